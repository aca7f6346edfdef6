//! The key specs and algorithms of AWS KMS's asymmetric keys, with AWS's wire
//! names and the pairings AWS allows.
//!
//! The lists follow the
//! [AWS KMS key spec reference](https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html)
//! and the service model's `KeySpec`, `DataKeyPairSpec`, `SigningAlgorithmSpec`,
//! `MessageType` and `EncryptionAlgorithmSpec` enums.

/// The key spec of an asymmetric KMS key or data key pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AsymmetricKeySpec {
    /// RSA with a 2048-bit modulus.
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    Rsa4096,
    /// NIST P-256 (secp256r1).
    EccNistP256,
    /// NIST P-384 (secp384r1).
    EccNistP384,
    /// NIST P-521 (secp521r1).
    EccNistP521,
    /// SECG secp256k1.
    EccSecgP256k1,
    /// Edwards25519 (Ed25519, RFC 8032).
    EccNistEdwards25519,
    /// ML-DSA-44 (FIPS 204).
    MlDsa44,
    /// ML-DSA-65 (FIPS 204).
    MlDsa65,
    /// ML-DSA-87 (FIPS 204).
    MlDsa87,
    /// SM2 (GB/T 32918), China Regions only in AWS.
    Sm2,
}

impl AsymmetricKeySpec {
    /// Every asymmetric key spec.
    pub const ALL: [AsymmetricKeySpec; 12] = [
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::EccNistP256,
        Self::EccNistP384,
        Self::EccNistP521,
        Self::EccSecgP256k1,
        Self::EccNistEdwards25519,
        Self::MlDsa44,
        Self::MlDsa65,
        Self::MlDsa87,
        Self::Sm2,
    ];

    /// Parses AWS's `KeySpec` / `DataKeyPairSpec` name (`"RSA_2048"`, ...).
    /// `None` for symmetric and HMAC specs and anything unknown.
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|spec| spec.wire_name() == s)
    }

    /// AWS's name for the spec.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Rsa2048 => "RSA_2048",
            Self::Rsa3072 => "RSA_3072",
            Self::Rsa4096 => "RSA_4096",
            Self::EccNistP256 => "ECC_NIST_P256",
            Self::EccNistP384 => "ECC_NIST_P384",
            Self::EccNistP521 => "ECC_NIST_P521",
            Self::EccSecgP256k1 => "ECC_SECG_P256K1",
            Self::EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
            Self::MlDsa44 => "ML_DSA_44",
            Self::MlDsa65 => "ML_DSA_65",
            Self::MlDsa87 => "ML_DSA_87",
            Self::Sm2 => "SM2",
        }
    }

    /// Whether keys of this spec can derive shared secrets (ECDH): the NIST
    /// prime curves and SM2, as the key spec reference lists for KEY_AGREEMENT.
    pub fn supports_key_agreement(self) -> bool {
        matches!(
            self,
            Self::EccNistP256 | Self::EccNistP384 | Self::EccNistP521 | Self::Sm2
        )
    }

    /// RSA modulus length in bytes, for RSA specs.
    pub(crate) fn rsa_modulus_len(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(256),
            Self::Rsa3072 => Some(384),
            Self::Rsa4096 => Some(512),
            _ => None,
        }
    }
}

/// A signing algorithm (`SigningAlgorithmSpec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256, 32-byte salt.
    RsassaPssSha256,
    /// RSASSA-PSS with SHA-384, MGF1 with SHA-384, 48-byte salt.
    RsassaPssSha384,
    /// RSASSA-PSS with SHA-512, MGF1 with SHA-512, 64-byte salt.
    RsassaPssSha512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsassaPkcs1V15Sha256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RsassaPkcs1V15Sha384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RsassaPkcs1V15Sha512,
    /// ECDSA with SHA-256.
    EcdsaSha256,
    /// ECDSA with SHA-384.
    EcdsaSha384,
    /// ECDSA with SHA-512.
    EcdsaSha512,
    /// PureEdDSA Ed25519 (RFC 8032).
    Ed25519Sha512,
    /// HashEdDSA Ed25519ph (RFC 8032 §5.1, FIPS 186-5 §7.8.1).
    Ed25519PhSha512,
    /// ML-DSA with SHAKE256 (FIPS 204, empty context).
    MlDsaShake256,
    /// SM2DSA with SM3 (GB/T 32918.2).
    Sm2Dsa,
}

impl SigningAlgorithm {
    /// Every signing algorithm.
    pub const ALL: [Self; 13] = [
        Self::RsassaPssSha256,
        Self::RsassaPssSha384,
        Self::RsassaPssSha512,
        Self::RsassaPkcs1V15Sha256,
        Self::RsassaPkcs1V15Sha384,
        Self::RsassaPkcs1V15Sha512,
        Self::EcdsaSha256,
        Self::EcdsaSha384,
        Self::EcdsaSha512,
        Self::Ed25519Sha512,
        Self::Ed25519PhSha512,
        Self::MlDsaShake256,
        Self::Sm2Dsa,
    ];

    /// Parses AWS's `SigningAlgorithmSpec` name.
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.wire_name() == s)
    }

    /// AWS's name for the algorithm.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::RsassaPssSha256 => "RSASSA_PSS_SHA_256",
            Self::RsassaPssSha384 => "RSASSA_PSS_SHA_384",
            Self::RsassaPssSha512 => "RSASSA_PSS_SHA_512",
            Self::RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
            Self::RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
            Self::RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
            Self::EcdsaSha256 => "ECDSA_SHA_256",
            Self::EcdsaSha384 => "ECDSA_SHA_384",
            Self::EcdsaSha512 => "ECDSA_SHA_512",
            Self::Ed25519Sha512 => "ED25519_SHA_512",
            Self::Ed25519PhSha512 => "ED25519_PH_SHA_512",
            Self::MlDsaShake256 => "ML_DSA_SHAKE_256",
            Self::Sm2Dsa => "SM2DSA",
        }
    }

    /// Digest length in bytes required for [`MessageType::Digest`] (`None`:
    /// DIGEST is not allowed, i.e. ED25519_SHA_512 and ML_DSA_SHAKE_256).
    ///
    /// ED25519_PH_SHA_512 takes a 64-byte SHA-512 digest, which AWS then
    /// pre-hashes once more (the service model's `MessageType` documentation:
    /// "the input is hashed twice: once by you and once by KMS").
    pub fn digest_len(self) -> Option<usize> {
        match self {
            Self::RsassaPssSha256 | Self::RsassaPkcs1V15Sha256 | Self::EcdsaSha256 => Some(32),
            Self::RsassaPssSha384 | Self::RsassaPkcs1V15Sha384 | Self::EcdsaSha384 => Some(48),
            Self::RsassaPssSha512 | Self::RsassaPkcs1V15Sha512 | Self::EcdsaSha512 => Some(64),
            Self::Ed25519PhSha512 => Some(64),
            Self::Sm2Dsa => Some(32),
            Self::Ed25519Sha512 | Self::MlDsaShake256 => None,
        }
    }

    /// Whether AWS accepts `message_type` with this algorithm. From the service
    /// model's `MessageType` documentation: ED25519_SHA_512 requires RAW,
    /// ED25519_PH_SHA_512 requires DIGEST, EXTERNAL_MU is for ML-DSA only, and
    /// ML-DSA takes no DIGEST.
    pub fn allows_message_type(self, message_type: MessageType) -> bool {
        match (self, message_type) {
            (Self::Ed25519Sha512, MessageType::Raw) => true,
            (Self::Ed25519Sha512, _) => false,
            (Self::Ed25519PhSha512, MessageType::Digest) => true,
            (Self::Ed25519PhSha512, _) => false,
            (Self::MlDsaShake256, MessageType::Raw | MessageType::ExternalMu) => true,
            (Self::MlDsaShake256, MessageType::Digest) => false,
            (_, MessageType::ExternalMu) => false,
            (_, MessageType::Raw | MessageType::Digest) => true,
        }
    }

    /// The algorithms AWS lists for a key spec (DescribeKey/GetPublicKey
    /// `SigningAlgorithms`), in AWS's order; empty if the spec cannot sign.
    pub fn for_spec(spec: AsymmetricKeySpec) -> &'static [SigningAlgorithm] {
        use AsymmetricKeySpec as K;
        match spec {
            K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => &[
                Self::RsassaPkcs1V15Sha256,
                Self::RsassaPkcs1V15Sha384,
                Self::RsassaPkcs1V15Sha512,
                Self::RsassaPssSha256,
                Self::RsassaPssSha384,
                Self::RsassaPssSha512,
            ],
            K::EccNistP256 | K::EccSecgP256k1 => &[Self::EcdsaSha256],
            K::EccNistP384 => &[Self::EcdsaSha384],
            K::EccNistP521 => &[Self::EcdsaSha512],
            K::EccNistEdwards25519 => &[Self::Ed25519Sha512, Self::Ed25519PhSha512],
            K::MlDsa44 | K::MlDsa65 | K::MlDsa87 => &[Self::MlDsaShake256],
            K::Sm2 => &[Self::Sm2Dsa],
        }
    }
}

/// How `Sign`/`Verify` treat the message (`MessageType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// The message itself; the algorithm hashes it.
    Raw,
    /// A digest the caller computed; never hashed again.
    Digest,
    /// ML-DSA's 64-byte message representative μ (FIPS 204 §6.2).
    ExternalMu,
}

impl MessageType {
    /// Every message type.
    pub const ALL: [Self; 3] = [Self::Raw, Self::Digest, Self::ExternalMu];

    /// Parses AWS's `MessageType` name.
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.wire_name() == s)
    }

    /// AWS's name for the message type.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Raw => "RAW",
            Self::Digest => "DIGEST",
            Self::ExternalMu => "EXTERNAL_MU",
        }
    }
}

/// An asymmetric encryption algorithm (`EncryptionAlgorithmSpec` less
/// SYMMETRIC_DEFAULT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AsymmetricEncryptionAlgorithm {
    /// RSAES-OAEP with SHA-1 and MGF1 with SHA-1.
    RsaesOaepSha1,
    /// RSAES-OAEP with SHA-256 and MGF1 with SHA-256.
    RsaesOaepSha256,
    /// SM2 public-key encryption (GB/T 32918.4).
    Sm2Pke,
}

impl AsymmetricEncryptionAlgorithm {
    /// Every asymmetric encryption algorithm.
    pub const ALL: [Self; 3] = [Self::RsaesOaepSha1, Self::RsaesOaepSha256, Self::Sm2Pke];

    /// Parses AWS's `EncryptionAlgorithmSpec` name (not SYMMETRIC_DEFAULT).
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.wire_name() == s)
    }

    /// AWS's name for the algorithm.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            Self::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            Self::Sm2Pke => "SM2PKE",
        }
    }

    /// The algorithms AWS lists for a key spec (`EncryptionAlgorithms`), in
    /// AWS's order; empty if the spec cannot encrypt.
    pub fn for_spec(spec: AsymmetricKeySpec) -> &'static [Self] {
        use AsymmetricKeySpec as K;
        match spec {
            K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => &[Self::RsaesOaepSha1, Self::RsaesOaepSha256],
            K::Sm2 => &[Self::Sm2Pke],
            _ => &[],
        }
    }

    /// Largest plaintext AWS accepts for this spec and algorithm: for OAEP the
    /// RFC 8017 §7.1.1 bound k − 2·hLen − 2 (RSA_2048: 214 with SHA-1, 190 with
    /// SHA-256), for SM2PKE 1024 bytes as the key spec reference lists.
    pub fn max_plaintext_len(self, spec: AsymmetricKeySpec) -> Option<usize> {
        if !Self::for_spec(spec).contains(&self) {
            return None;
        }
        match self {
            Self::RsaesOaepSha1 => spec.rsa_modulus_len().map(|k| k - 2 * 20 - 2),
            Self::RsaesOaepSha256 => spec.rsa_modulus_len().map(|k| k - 2 * 32 - 2),
            Self::Sm2Pke => Some(1024),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in AsymmetricKeySpec::ALL {
            assert_eq!(AsymmetricKeySpec::from_wire(s.wire_name()), Some(s));
        }
        for a in SigningAlgorithm::ALL {
            assert_eq!(SigningAlgorithm::from_wire(a.wire_name()), Some(a));
        }
        for t in MessageType::ALL {
            assert_eq!(MessageType::from_wire(t.wire_name()), Some(t));
        }
        for a in AsymmetricEncryptionAlgorithm::ALL {
            assert_eq!(
                AsymmetricEncryptionAlgorithm::from_wire(a.wire_name()),
                Some(a)
            );
        }
        assert_eq!(AsymmetricKeySpec::from_wire("SYMMETRIC_DEFAULT"), None);
        assert_eq!(AsymmetricKeySpec::from_wire("HMAC_256"), None);
        assert_eq!(
            AsymmetricEncryptionAlgorithm::from_wire("SYMMETRIC_DEFAULT"),
            None
        );
    }

    #[test]
    fn max_plaintext_lengths_match_aws() {
        use AsymmetricEncryptionAlgorithm as A;
        use AsymmetricKeySpec as K;
        let cases = [
            (K::Rsa2048, A::RsaesOaepSha1, 214),
            (K::Rsa2048, A::RsaesOaepSha256, 190),
            (K::Rsa3072, A::RsaesOaepSha1, 342),
            (K::Rsa3072, A::RsaesOaepSha256, 318),
            (K::Rsa4096, A::RsaesOaepSha1, 470),
            (K::Rsa4096, A::RsaesOaepSha256, 446),
            (K::Sm2, A::Sm2Pke, 1024),
        ];
        for (spec, alg, max) in cases {
            assert_eq!(alg.max_plaintext_len(spec), Some(max), "{spec:?} {alg:?}");
        }
        assert_eq!(A::Sm2Pke.max_plaintext_len(K::Rsa2048), None);
        assert_eq!(A::RsaesOaepSha1.max_plaintext_len(K::EccNistP256), None);
    }

    #[test]
    fn every_algorithm_belongs_to_some_spec() {
        for alg in SigningAlgorithm::ALL {
            assert!(AsymmetricKeySpec::ALL
                .iter()
                .any(|s| SigningAlgorithm::for_spec(*s).contains(&alg)));
        }
        for spec in AsymmetricKeySpec::ALL {
            assert!(!SigningAlgorithm::for_spec(spec).is_empty());
        }
    }
}
