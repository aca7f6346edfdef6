//! Asymmetric KMS keys: generation, PKCS#8 / SubjectPublicKeyInfo encoding,
//! signing and verification, RSAES-OAEP / SM2PKE encryption, and ECDH.
//!
//! [`PrivateKey`] and [`PublicKey`] dispatch on the key spec's family to one
//! module each; the modules say which library does the work and why.

mod der;
mod ecc;
mod ed25519;
mod mldsa;
mod rsa;
mod sm2;
mod spec;

use std::fmt;

pub use der::certificate_subject_common_names;
pub use spec::{AsymmetricEncryptionAlgorithm, AsymmetricKeySpec, MessageType, SigningAlgorithm};

use crate::{CryptoError, SecretBytes};

/// An asymmetric private key (with its public key).
///
/// `Debug` prints the spec only. The PKCS#8 encoding is held in a zeroizing
/// buffer, and the parsed library key objects clear their secrets when freed.
pub struct PrivateKey {
    spec: AsymmetricKeySpec,
    pkcs8: SecretBytes,
    public: PublicKey,
    inner: Inner,
}

/// The parsed key, per family.
enum Inner {
    Rsa(rsa::RsaPrivate),
    Ec(ecc::EcPrivate),
    // Boxed: the dalek key makes it several times larger than the others.
    Ed25519(Box<ed25519::Ed25519Private>),
    MlDsa(mldsa::MlDsaPrivate),
    Sm2(sm2::Sm2Private),
}

impl Inner {
    fn generate(spec: AsymmetricKeySpec) -> Result<(Self, SecretBytes), CryptoError> {
        use AsymmetricKeySpec as K;
        Ok(match spec {
            K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => {
                let (k, p) = rsa::RsaPrivate::generate(spec)?;
                (Self::Rsa(k), p)
            }
            K::EccNistP256 | K::EccNistP384 | K::EccNistP521 | K::EccSecgP256k1 => {
                let (k, p) = ecc::EcPrivate::generate(spec)?;
                (Self::Ec(k), p)
            }
            K::EccNistEdwards25519 => {
                let (k, p) = ed25519::Ed25519Private::generate()?;
                (Self::Ed25519(Box::new(k)), p)
            }
            K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => {
                let (k, p) = mldsa::MlDsaPrivate::generate(spec)?;
                (Self::MlDsa(k), p)
            }
            K::Sm2 => {
                let (k, p) = sm2::Sm2Private::generate()?;
                (Self::Sm2(k), p)
            }
        })
    }

    fn from_pkcs8(spec: AsymmetricKeySpec, der: &[u8]) -> Result<Self, CryptoError> {
        use AsymmetricKeySpec as K;
        Ok(match spec {
            K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => {
                Self::Rsa(rsa::RsaPrivate::from_pkcs8(spec, der)?)
            }
            K::EccNistP256 | K::EccNistP384 | K::EccNistP521 | K::EccSecgP256k1 => {
                Self::Ec(ecc::EcPrivate::from_pkcs8(spec, der)?)
            }
            K::EccNistEdwards25519 => {
                Self::Ed25519(Box::new(ed25519::Ed25519Private::from_pkcs8(der)?))
            }
            K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => {
                Self::MlDsa(mldsa::MlDsaPrivate::from_pkcs8(spec, der)?)
            }
            K::Sm2 => Self::Sm2(sm2::Sm2Private::from_pkcs8(der)?),
        })
    }

    fn public_der(&self) -> Result<Vec<u8>, CryptoError> {
        match self {
            Self::Rsa(k) => k.public_der(),
            Self::Ec(k) => k.public_der(),
            Self::Ed25519(k) => k.public_der(),
            Self::MlDsa(k) => k.public_der(),
            Self::Sm2(k) => k.public_der(),
        }
    }
}

impl PrivateKey {
    /// Generates a fresh key pair. Blocking, and slow for RSA-4096 (callers
    /// use `spawn_blocking`).
    pub fn generate(spec: AsymmetricKeySpec) -> Result<Self, CryptoError> {
        let (inner, pkcs8) = Inner::generate(spec)?;
        Self::assemble(spec, inner, pkcs8).map_err(|_| CryptoError::KeyGenerationFailure)
    }

    fn assemble(
        spec: AsymmetricKeySpec,
        inner: Inner,
        pkcs8: SecretBytes,
    ) -> Result<Self, CryptoError> {
        let public = PublicKey::new(spec, inner.public_der()?)?;
        Ok(Self {
            spec,
            pkcs8,
            public,
            inner,
        })
    }

    /// From unencrypted PKCS#8 DER (what [`PrivateKey::pkcs8`] returns, and
    /// what import and data key pairs carry). [`CryptoError::InvalidKeyMaterial`]
    /// if it is not a key of `spec`.
    pub fn from_pkcs8(spec: AsymmetricKeySpec, der: &[u8]) -> Result<Self, CryptoError> {
        let inner = Inner::from_pkcs8(spec, der)?;
        Self::assemble(spec, inner, SecretBytes::from_slice(der))
            .map_err(|_| CryptoError::InvalidKeyMaterial)
    }

    /// The private key as PKCS#8 v1 DER (RFC 5208/5958).
    pub fn pkcs8(&self) -> &SecretBytes {
        &self.pkcs8
    }

    /// The key spec.
    pub fn spec(&self) -> AsymmetricKeySpec {
        self.spec
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `message` and returns the signature in AWS's encoding (ECDSA/SM2:
    /// DER `SEQUENCE{r,s}`; RSA: raw; Ed25519: 64 bytes; ML-DSA: FIPS 204).
    /// With [`MessageType::Digest`] / [`MessageType::ExternalMu`] `message` is
    /// the digest / μ and is never hashed again.
    pub fn sign(
        &self,
        alg: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        check_signing(self.spec, alg, message_type, message)?;
        match &self.inner {
            Inner::Rsa(k) => k.sign(alg, message_type, message),
            Inner::Ec(k) => k.sign(self.spec, alg, message_type, message),
            Inner::Ed25519(k) => k.sign(alg, message_type, message),
            Inner::MlDsa(k) => k.sign(self.spec, alg, message_type, message),
            Inner::Sm2(k) => k.sign(alg, message_type, message),
        }
    }

    /// RSAES-OAEP (MGF1 with the same hash) / SM2PKE decryption. Any failure
    /// is [`CryptoError::InvalidCiphertext`].
    pub fn decrypt(
        &self,
        alg: AsymmetricEncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        if !AsymmetricEncryptionAlgorithm::for_spec(self.spec).contains(&alg) {
            return Err(CryptoError::IncompatibleAlgorithm);
        }
        match &self.inner {
            Inner::Rsa(k) => k.decrypt(alg, ciphertext),
            Inner::Sm2(k) => k.decrypt(alg, ciphertext),
            Inner::Ec(_) | Inner::Ed25519(_) | Inner::MlDsa(_) => {
                Err(CryptoError::IncompatibleAlgorithm)
            }
        }
    }

    /// ECDH: the shared secret as AWS returns it (the raw x-coordinate,
    /// field-size bytes). `peer_public_key` is a DER SubjectPublicKeyInfo on
    /// the same curve, else [`CryptoError::InvalidPublicKey`].
    pub fn derive_shared_secret(&self, peer_public_key: &[u8]) -> Result<SecretBytes, CryptoError> {
        if !self.spec.supports_key_agreement() {
            return Err(CryptoError::IncompatibleAlgorithm);
        }
        match &self.inner {
            Inner::Ec(k) => k.derive(self.spec, peer_public_key),
            Inner::Sm2(k) => k.derive(peer_public_key),
            Inner::Rsa(_) | Inner::Ed25519(_) | Inner::MlDsa(_) => {
                Err(CryptoError::IncompatibleAlgorithm)
            }
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// An asymmetric public key: its spec and its X.509 SubjectPublicKeyInfo DER.
#[derive(Clone)]
pub struct PublicKey {
    spec: AsymmetricKeySpec,
    der: Vec<u8>,
    /// ECDSA keys, parsed once (the hot path of Verify); derived from `der`.
    ecdsa: Option<aws_lc_rs::signature::ParsedPublicKey>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("spec", &self.spec)
            .field("der", &self.der)
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec && self.der == other.der
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    /// From canonical DER (already validated for `spec`).
    fn new(spec: AsymmetricKeySpec, der: Vec<u8>) -> Result<Self, CryptoError> {
        use AsymmetricKeySpec as K;
        let ecdsa = match spec {
            K::EccNistP256 | K::EccNistP384 | K::EccNistP521 | K::EccSecgP256k1 => {
                Some(ecc::verifying_key(spec, &der)?)
            }
            _ => None,
        };
        Ok(Self { spec, der, ecdsa })
    }

    /// Parses and validates a DER SubjectPublicKeyInfo of `spec`.
    ///
    /// The stored DER is the library's re-encoding (e.g. an EC point in
    /// uncompressed form), so equal keys compare equal.
    pub fn from_der(spec: AsymmetricKeySpec, spki_der: &[u8]) -> Result<Self, CryptoError> {
        use AsymmetricKeySpec as K;
        der::expect_spki(spec, spki_der)?;
        let der = match spec {
            K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => rsa::canonical_public_der(spec, spki_der)?,
            K::EccNistP256 | K::EccNistP384 | K::EccNistP521 | K::EccSecgP256k1 => {
                ecc::canonical_public_der(spec, spki_der)?
            }
            K::EccNistEdwards25519 => ed25519::canonical_public_der(spki_der)?,
            K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => mldsa::canonical_public_der(spec, spki_der)?,
            K::Sm2 => sm2::canonical_public_der(spki_der)?,
        };
        Self::new(spec, der)
    }

    /// The key spec.
    pub fn spec(&self) -> AsymmetricKeySpec {
        self.spec
    }

    /// The X.509 SubjectPublicKeyInfo DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Verifies `signature`. `Ok(false)` for a signature that does not verify
    /// (including malformed signature bytes); `Err` for an algorithm or message
    /// type this key cannot use, or a digest of the wrong length.
    pub fn verify(
        &self,
        alg: SigningAlgorithm,
        message_type: MessageType,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, CryptoError> {
        use AsymmetricKeySpec as K;
        check_signing(self.spec, alg, message_type, message)?;
        let spki = &self.der;
        match self.spec {
            K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => {
                rsa::verify(spki, alg, message_type, message, signature)
            }
            K::EccNistP256 | K::EccNistP384 | K::EccNistP521 | K::EccSecgP256k1 => {
                let key = self.ecdsa.as_ref().ok_or(CryptoError::InvalidPublicKey)?;
                ecc::verify(self.spec, key, alg, message_type, message, signature)
            }
            K::EccNistEdwards25519 => ed25519::verify(spki, alg, message_type, message, signature),
            K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => {
                mldsa::verify(self.spec, spki, alg, message_type, message, signature)
            }
            K::Sm2 => sm2::verify(spki, alg, message_type, message, signature),
        }
    }

    /// RSAES-OAEP / SM2PKE encryption with the public key.
    pub fn encrypt(
        &self,
        alg: AsymmetricEncryptionAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let max = alg
            .max_plaintext_len(self.spec)
            .ok_or(CryptoError::IncompatibleAlgorithm)?;
        if plaintext.len() > max {
            return Err(CryptoError::PlaintextTooLarge);
        }
        match alg {
            AsymmetricEncryptionAlgorithm::RsaesOaepSha1
            | AsymmetricEncryptionAlgorithm::RsaesOaepSha256 => {
                rsa::encrypt(&self.der, alg, plaintext)
            }
            AsymmetricEncryptionAlgorithm::Sm2Pke => sm2::encrypt(&self.der, alg, plaintext),
        }
    }
}

/// The checks every signing algorithm shares: the algorithm belongs to the
/// spec, the message type is one AWS allows with it, and a DIGEST / μ has the
/// algorithm's length.
fn check_signing(
    spec: AsymmetricKeySpec,
    alg: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<(), CryptoError> {
    if !SigningAlgorithm::for_spec(spec).contains(&alg) || !alg.allows_message_type(message_type) {
        return Err(CryptoError::IncompatibleAlgorithm);
    }
    let expected = match message_type {
        MessageType::Raw => return Ok(()),
        MessageType::Digest => alg.digest_len().ok_or(CryptoError::IncompatibleAlgorithm)?,
        MessageType::ExternalMu => 64,
    };
    if message.len() != expected {
        return Err(CryptoError::InvalidDigestLength {
            expected,
            actual: message.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
