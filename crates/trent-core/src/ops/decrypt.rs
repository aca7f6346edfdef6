//! Decrypt: <https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html>

use trent_wire::{
    DecryptRequest, DecryptResponse, EncryptionAlgorithmSpec, Operation, SensitiveBlob,
};

use super::common::{missing, Ciphertext};
use crate::authz::Access;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn decrypt(
        &self,
        caller: &Caller,
        req: DecryptRequest,
    ) -> Result<DecryptResponse, KmsError> {
        if req.recipient.is_some() {
            return Err(KmsError::Unsupported {
                what: "Recipient (Nitro Enclaves attestation)".into(),
            });
        }
        let blob = req
            .ciphertext_blob
            .as_deref()
            .ok_or_else(|| missing("ciphertextBlob"))?;
        let d = self
            .decrypt_blob(
                caller,
                Ciphertext {
                    blob,
                    key_id: req.key_id.as_deref(),
                    context: req.encryption_context.as_ref(),
                    algorithm: req.encryption_algorithm,
                },
                Access::of(Operation::Decrypt)
                    .encryption_context(req.encryption_context.as_ref())
                    .grant_tokens(req.grant_tokens.as_ref())
                    .with(
                        "kms:EncryptionAlgorithm",
                        req.encryption_algorithm
                            .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault)
                            .as_str(),
                    ),
                Operation::Decrypt,
                req.dry_run == Some(true),
            )
            .await?;
        Ok(DecryptResponse {
            key_id: Some(d.key.record.arn.to_string()),
            plaintext: Some(SensitiveBlob::from(d.plaintext.into_vec())),
            encryption_algorithm: Some(d.algorithm),
            key_material_id: d.material_id,
            ..DecryptResponse::default()
        })
    }
}
