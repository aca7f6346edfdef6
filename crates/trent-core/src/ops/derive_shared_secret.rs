//! DeriveSharedSecret:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_DeriveSharedSecret.html>
//!
//! ECDH between the KEY_AGREEMENT key's private key and the peer's public key (DER
//! SubjectPublicKeyInfo on the same curve); the raw shared secret is returned.

use trent_crypto::CryptoError;
use trent_wire::{
    DeriveSharedSecretRequest, DeriveSharedSecretResponse, KeyAgreementAlgorithmSpec, KeyUsageType,
    Operation, SensitiveBlob,
};

use super::common::require_usage;
use crate::authz::Access;
use crate::backend::KeyHandle;
use crate::ids::Forms;
use crate::keys::require_enabled;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn derive_shared_secret(
        &self,
        caller: &Caller,
        req: DeriveSharedSecretRequest,
    ) -> Result<DeriveSharedSecretResponse, KmsError> {
        if req.recipient.is_some() {
            return Err(KmsError::Unsupported {
                what: "Recipient (Nitro Enclaves attestation)".into(),
            });
        }
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOrAlias,
                Access::of(Operation::DeriveSharedSecret)
                    .grant_tokens(req.grant_tokens.as_ref())
                    .with(
                        "kms:KeyAgreementAlgorithm",
                        req.key_agreement_algorithm.as_str(),
                    ),
            )
            .await?;
        require_usage(
            &key,
            KeyUsageType::KeyAgreement,
            Operation::DeriveSharedSecret,
        )?;
        require_enabled(&key.record)?;
        // ECDH is the model's only KeyAgreementAlgorithmSpec; the decoder refuses others.
        let KeyAgreementAlgorithmSpec::Ecdh = req.key_agreement_algorithm;
        if req.dry_run == Some(true) {
            return Err(KmsError::DryRun);
        }
        let secret = key
            .handle
            .derive_shared_secret(&req.public_key)
            .await
            .map_err(|e| {
                e.into_kms(|e| match e {
                    // Not a SubjectPublicKeyInfo, or a key on another curve: AWS answers a
                    // ValidationException without a message (LocalStack's DeriveSharedSecret,
                    // snapshot-tested against AWS: `ValidationException("")`).
                    CryptoError::InvalidPublicKey => KmsError::InvalidPeerPublicKey,
                    other => crate::error::internal("deriving a shared secret")(other),
                })
            })?;
        Ok(DeriveSharedSecretResponse {
            key_id: Some(key.record.arn.to_string()),
            shared_secret: Some(SensitiveBlob::from(secret.into_vec())),
            key_agreement_algorithm: Some(KeyAgreementAlgorithmSpec::Ecdh),
            key_origin: Some(key.record.origin),
            ..DeriveSharedSecretResponse::default()
        })
    }
}
