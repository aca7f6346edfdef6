//! What a key spec is (symmetric, HMAC, asymmetric), which key usages AWS allows with it,
//! and the algorithm lists AWS reports for each spec and usage (DescribeKey, CreateKey,
//! GetPublicKey):
//! <https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html>

use trent_crypto::{
    AsymmetricEncryptionAlgorithm, AsymmetricKeySpec, HmacKeySpec, SigningAlgorithm,
};
use trent_wire::{
    EncryptionAlgorithmSpec, KeyAgreementAlgorithmSpec, KeyUsageType, MacAlgorithmSpec,
    SigningAlgorithmSpec,
};

/// The three kinds of key material a KMS key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// SYMMETRIC_DEFAULT: AES-256-GCM.
    Symmetric,
    /// HMAC_224 ... HMAC_512.
    Hmac(HmacKeySpec),
    /// RSA, ECC, Ed25519, ML-DSA, SM2 key pairs.
    Asymmetric(AsymmetricKeySpec),
}

pub(crate) const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

impl KeyKind {
    /// The kind of a key spec's wire name; `None` for a name outside AWS's KeySpec list.
    pub fn of(spec: &str) -> Option<Self> {
        if spec == SYMMETRIC_DEFAULT {
            return Some(KeyKind::Symmetric);
        }
        if let Some(h) = HmacKeySpec::from_wire(spec) {
            return Some(KeyKind::Hmac(h));
        }
        AsymmetricKeySpec::from_wire(spec).map(KeyKind::Asymmetric)
    }

    /// The key usages AWS allows with this spec (the KeyUsage documentation of CreateKey):
    /// RSA encrypts or signs; NIST curves sign or agree keys; secp256k1, Ed25519 and
    /// ML-DSA only sign; SM2 does all three; HMAC keys only MAC.
    pub fn allowed_usages(self) -> &'static [KeyUsageType] {
        use AsymmetricKeySpec as A;
        use KeyUsageType as U;
        match self {
            KeyKind::Symmetric => &[U::EncryptDecrypt],
            KeyKind::Hmac(_) => &[U::GenerateVerifyMac],
            KeyKind::Asymmetric(spec) => match spec {
                A::Rsa2048 | A::Rsa3072 | A::Rsa4096 => &[U::EncryptDecrypt, U::SignVerify],
                A::EccNistP256 | A::EccNistP384 | A::EccNistP521 => {
                    &[U::SignVerify, U::KeyAgreement]
                }
                A::EccSecgP256k1
                | A::EccNistEdwards25519
                | A::MlDsa44
                | A::MlDsa65
                | A::MlDsa87 => &[U::SignVerify],
                A::Sm2 => &[U::EncryptDecrypt, U::SignVerify, U::KeyAgreement],
            },
        }
    }

    pub fn asymmetric(self) -> Option<AsymmetricKeySpec> {
        match self {
            KeyKind::Asymmetric(s) => Some(s),
            _ => None,
        }
    }
}

/// The algorithm lists of a key's metadata: only the list that goes with its usage is
/// present, as in AWS's DescribeKey and GetPublicKey responses.
#[derive(Debug, Default)]
pub(crate) struct AlgorithmLists {
    pub encryption: Option<Vec<EncryptionAlgorithmSpec>>,
    pub signing: Option<Vec<SigningAlgorithmSpec>>,
    pub mac: Option<Vec<MacAlgorithmSpec>>,
    pub key_agreement: Option<Vec<KeyAgreementAlgorithmSpec>>,
}

pub(crate) fn algorithm_lists(kind: KeyKind, usage: KeyUsageType) -> AlgorithmLists {
    let mut lists = AlgorithmLists::default();
    match (kind, usage) {
        (KeyKind::Symmetric, _) => {
            lists.encryption = Some(vec![EncryptionAlgorithmSpec::SymmetricDefault]);
        }
        (KeyKind::Hmac(h), _) => {
            lists.mac = MacAlgorithmSpec::parse(h.algorithm().wire_name()).map(|m| vec![m]);
        }
        (KeyKind::Asymmetric(spec), KeyUsageType::EncryptDecrypt) => {
            lists.encryption = Some(
                AsymmetricEncryptionAlgorithm::for_spec(spec)
                    .iter()
                    .filter_map(|a| EncryptionAlgorithmSpec::parse(a.wire_name()))
                    .collect(),
            );
        }
        (KeyKind::Asymmetric(spec), KeyUsageType::SignVerify) => {
            lists.signing = Some(
                SigningAlgorithm::for_spec(spec)
                    .iter()
                    .filter_map(|a| SigningAlgorithmSpec::parse(a.wire_name()))
                    .collect(),
            );
        }
        (KeyKind::Asymmetric(_), KeyUsageType::KeyAgreement) => {
            lists.key_agreement = Some(vec![KeyAgreementAlgorithmSpec::Ecdh]);
        }
        (KeyKind::Asymmetric(_), KeyUsageType::GenerateVerifyMac) => {}
    }
    lists
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_key_spec_has_a_kind() {
        for spec in trent_wire::KeySpec::ALL {
            assert!(KeyKind::of(spec.as_str()).is_some(), "{}", spec.as_str());
        }
        assert_eq!(KeyKind::of("AES_256"), None);
    }

    #[test]
    fn lists_follow_usage() {
        let ecc = KeyKind::Asymmetric(AsymmetricKeySpec::EccNistP256);
        let l = algorithm_lists(ecc, KeyUsageType::KeyAgreement);
        assert_eq!(l.key_agreement, Some(vec![KeyAgreementAlgorithmSpec::Ecdh]));
        assert!(l.signing.is_none() && l.encryption.is_none());
        let l = algorithm_lists(ecc, KeyUsageType::SignVerify);
        assert_eq!(l.signing, Some(vec![SigningAlgorithmSpec::EcdsaSha256]));
        let rsa = KeyKind::Asymmetric(AsymmetricKeySpec::Rsa2048);
        let l = algorithm_lists(rsa, KeyUsageType::EncryptDecrypt);
        assert_eq!(
            l.encryption,
            Some(vec![
                EncryptionAlgorithmSpec::RsaesOaepSha1,
                EncryptionAlgorithmSpec::RsaesOaepSha256
            ])
        );
        let hmac = KeyKind::of("HMAC_384").unwrap();
        let l = algorithm_lists(hmac, KeyUsageType::GenerateVerifyMac);
        assert_eq!(l.mac, Some(vec![MacAlgorithmSpec::HmacSha384]));
    }
}
