//! What Sign and Verify check before they touch a key pair, in AWS's order: the key's
//! usage, its state, the algorithm against the key spec, then the message type and the
//! digest length (the MessageType documentation of Sign and Verify):
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html>

use std::sync::Arc;

use trent_crypto::{AsymmetricKeySpec, MessageType, SigningAlgorithm};
use trent_wire::{KeyUsageType, Operation, SigningAlgorithmSpec};

use super::common::{incompatible, require_usage};
use crate::authz::Access;
use crate::ids::Forms;
use crate::keys::{require_enabled, Key};
use crate::{Caller, KeyService, KmsError};

/// The length of an ML-DSA external μ (FIPS 204, section 6.2).
const EXTERNAL_MU_LEN: usize = 64;

/// A signing request that passed every check.
pub(crate) struct SigningRequest {
    pub key: Arc<Key>,
    pub algorithm: SigningAlgorithm,
    pub message_type: MessageType,
}

impl KeyService {
    pub(crate) async fn signing_request(
        &self,
        caller: &Caller,
        key_id: &str,
        algorithm: SigningAlgorithmSpec,
        message_type: Option<trent_wire::MessageType>,
        message_len: usize,
        (operation, grant_tokens): (Operation, Option<&Vec<String>>),
    ) -> Result<SigningRequest, KmsError> {
        let access = Access::of(operation)
            .grant_tokens(grant_tokens)
            .with("kms:SigningAlgorithm", algorithm.as_str())
            .with(
                "kms:MessageType",
                message_type
                    .unwrap_or(trent_wire::MessageType::Raw)
                    .as_str(),
            );
        let key = self
            .resolve(caller, key_id, Forms::KeyOrAlias, access)
            .await?;
        require_usage(&key, KeyUsageType::SignVerify, operation)?;
        require_enabled(&key.record)?;
        let spec = key.kind().asymmetric().ok_or(KmsError::Internal)?;
        let name = algorithm.as_str();
        let algorithm = SigningAlgorithm::from_wire(name)
            .filter(|a| SigningAlgorithm::for_spec(spec).contains(a))
            .ok_or_else(|| incompatible(name, &key))?;
        let message_type = message_type
            .map(|m| MessageType::from_wire(m.as_str()).ok_or(KmsError::Internal))
            .transpose()?
            .unwrap_or(MessageType::Raw);
        check_message(spec, algorithm, message_type, message_len)?;
        Ok(SigningRequest {
            key,
            algorithm,
            message_type,
        })
    }
}

fn is_ml_dsa(spec: AsymmetricKeySpec) -> bool {
    matches!(
        spec,
        AsymmetricKeySpec::MlDsa44 | AsymmetricKeySpec::MlDsa65 | AsymmetricKeySpec::MlDsa87
    )
}

/// AWS's rules for MessageType: ED25519_SHA_512 takes RAW only and ED25519_PH_SHA_512
/// DIGEST only; ML-DSA keys take RAW or EXTERNAL_MU (64 bytes), no DIGEST; EXTERNAL_MU is
/// for ML-DSA only; a DIGEST must be exactly as long as the algorithm's hash. The
/// messages are those AWS answers.
fn check_message(
    spec: AsymmetricKeySpec,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    len: usize,
) -> Result<(), KmsError> {
    let validation = |message: String| Err(KmsError::Validation { message });
    let invalid_length = || {
        validation(format!(
            "Digest is invalid length for algorithm {}.",
            algorithm.wire_name()
        ))
    };
    match message_type {
        MessageType::Raw => {
            if algorithm == SigningAlgorithm::Ed25519PhSha512 {
                return validation(format!(
                    "Message type RAW is incompatible with algorithm {}.",
                    algorithm.wire_name()
                ));
            }
        }
        MessageType::Digest => {
            if is_ml_dsa(spec) {
                return validation(format!(
                    "Message type DIGEST is incompatible with key spec {}.",
                    spec.wire_name()
                ));
            }
            match algorithm.digest_len() {
                None => {
                    return validation(format!(
                        "Message type DIGEST is incompatible with algorithm {}.",
                        algorithm.wire_name()
                    ))
                }
                Some(n) if n != len => return invalid_length(),
                Some(_) => {}
            }
        }
        MessageType::ExternalMu => {
            if !is_ml_dsa(spec) {
                return validation(format!(
                    "Message type EXTERNAL_MU is incompatible with key spec {}.",
                    spec.wire_name()
                ));
            }
            if len != EXTERNAL_MU_LEN {
                return invalid_length();
            }
        }
    }
    Ok(())
}

/// Crypto failures of a checked request are internal, except the ones that are the
/// caller's (should the crypto layer be stricter than the checks above).
pub(crate) fn signing_error(
    algorithm: SigningAlgorithm,
    spec: &str,
) -> impl Fn(trent_crypto::CryptoError) -> KmsError + '_ {
    move |e| match e {
        trent_crypto::CryptoError::InvalidDigestLength { .. } => KmsError::Validation {
            message: format!(
                "Digest is invalid length for algorithm {}.",
                algorithm.wire_name()
            ),
        },
        trent_crypto::CryptoError::IncompatibleAlgorithm => KmsError::IncompatibleAlgorithm {
            algorithm: algorithm.wire_name().to_owned(),
            key_spec: spec.to_owned(),
        },
        other => crate::error::internal("signing")(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_rules() {
        use AsymmetricKeySpec as S;
        use MessageType as M;
        use SigningAlgorithm as A;
        assert!(check_message(S::EccNistP256, A::EcdsaSha256, M::Raw, 4096).is_ok());
        assert!(check_message(S::EccNistP256, A::EcdsaSha256, M::Digest, 32).is_ok());
        assert!(check_message(S::EccNistP256, A::EcdsaSha256, M::Digest, 20).is_err());
        assert!(check_message(S::EccNistP256, A::EcdsaSha256, M::ExternalMu, 64).is_err());
        assert!(check_message(S::EccNistEdwards25519, A::Ed25519Sha512, M::Digest, 64).is_err());
        assert!(check_message(S::EccNistEdwards25519, A::Ed25519PhSha512, M::Raw, 5).is_err());
        assert!(check_message(S::EccNistEdwards25519, A::Ed25519PhSha512, M::Digest, 64).is_ok());
        assert!(check_message(S::MlDsa65, A::MlDsaShake256, M::Digest, 32).is_err());
        assert!(check_message(S::MlDsa65, A::MlDsaShake256, M::ExternalMu, 64).is_ok());
        assert!(check_message(S::MlDsa65, A::MlDsaShake256, M::ExternalMu, 32).is_err());
    }
}
