//! What a key spec is (symmetric, HMAC, asymmetric), which key usages AWS allows with it,
//! and the algorithm lists AWS reports for each spec and usage (DescribeKey, CreateKey,
//! GetPublicKey):
//! <https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html>

use trent_crypto::{
    AsymmetricEncryptionAlgorithm, AsymmetricKeySpec, HmacKeySpec, SigningAlgorithm,
};
use trent_wire::{
    EncryptionAlgorithmSpec, KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType, MacAlgorithmSpec,
    SigningAlgorithmSpec,
};

use crate::keys::Key;

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

impl KeyKind {
    /// The kind of a key spec: every spec of AWS's KeySpec list has one (a match, so that
    /// a spec the model adds does not compile until it has one).
    pub fn of(spec: KeySpec) -> Self {
        use AsymmetricKeySpec as A;
        match spec {
            KeySpec::SymmetricDefault => KeyKind::Symmetric,
            KeySpec::Hmac224 => KeyKind::Hmac(HmacKeySpec::Hmac224),
            KeySpec::Hmac256 => KeyKind::Hmac(HmacKeySpec::Hmac256),
            KeySpec::Hmac384 => KeyKind::Hmac(HmacKeySpec::Hmac384),
            KeySpec::Hmac512 => KeyKind::Hmac(HmacKeySpec::Hmac512),
            KeySpec::Rsa2048 => KeyKind::Asymmetric(A::Rsa2048),
            KeySpec::Rsa3072 => KeyKind::Asymmetric(A::Rsa3072),
            KeySpec::Rsa4096 => KeyKind::Asymmetric(A::Rsa4096),
            KeySpec::EccNistP256 => KeyKind::Asymmetric(A::EccNistP256),
            KeySpec::EccNistP384 => KeyKind::Asymmetric(A::EccNistP384),
            KeySpec::EccNistP521 => KeyKind::Asymmetric(A::EccNistP521),
            KeySpec::EccSecgP256k1 => KeyKind::Asymmetric(A::EccSecgP256k1),
            KeySpec::EccNistEdwards25519 => KeyKind::Asymmetric(A::EccNistEdwards25519),
            KeySpec::MlDsa44 => KeyKind::Asymmetric(A::MlDsa44),
            KeySpec::MlDsa65 => KeyKind::Asymmetric(A::MlDsa65),
            KeySpec::MlDsa87 => KeyKind::Asymmetric(A::MlDsa87),
            KeySpec::Sm2 => KeyKind::Asymmetric(A::Sm2),
        }
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

impl Key {
    /// The key's kind, from its typed spec (no parsing).
    pub(crate) fn kind(&self) -> KeyKind {
        KeyKind::of(self.record.key_spec)
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

    /// The match agrees with the wire names of the crypto crate's specs.
    #[test]
    fn every_wire_key_spec_has_the_kind_of_its_name() {
        for spec in KeySpec::ALL.iter().copied() {
            let name = spec.as_str();
            let by_name = match KeyKind::of(spec) {
                KeyKind::Symmetric => name == "SYMMETRIC_DEFAULT",
                KeyKind::Hmac(h) => HmacKeySpec::from_wire(name) == Some(h),
                KeyKind::Asymmetric(a) => AsymmetricKeySpec::from_wire(name) == Some(a),
            };
            assert!(by_name, "{name}");
        }
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
        let hmac = KeyKind::of(KeySpec::Hmac384);
        let l = algorithm_lists(hmac, KeyUsageType::GenerateVerifyMac);
        assert_eq!(l.mac, Some(vec![MacAlgorithmSpec::HmacSha384]));
    }
}
