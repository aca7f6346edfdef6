//! GenerateDataKey: <https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html>

use trent_wire::{DataKeySpec, GenerateDataKeyRequest, GenerateDataKeyResponse, SensitiveBlob};

use super::common::{context_bytes, encrypt_with};
use crate::error::internal;
use crate::ids::Forms;
use crate::keys::{hex_encode, require_enabled};
use crate::{Caller, KeyService, KmsError};

/// How many bytes a data key has: exactly one of `KeySpec` and `NumberOfBytes`.
pub(crate) fn data_key_length(
    spec: Option<DataKeySpec>,
    number_of_bytes: Option<i32>,
) -> Result<usize, KmsError> {
    match (spec, number_of_bytes) {
        (Some(DataKeySpec::Aes256), None) => Ok(32),
        (Some(DataKeySpec::Aes128), None) => Ok(16),
        (None, Some(n)) => usize::try_from(n).map_err(|_| KmsError::Internal),
        _ => Err(KmsError::Validation {
            message: "Please specify either number of bytes or key spec.".into(),
        }),
    }
}

impl KeyService {
    pub async fn generate_data_key(
        &self,
        caller: &Caller,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        if req.recipient.is_some() {
            return Err(KmsError::Unsupported {
                what: "Recipient (Nitro Enclaves attestation)".into(),
            });
        }
        let length = data_key_length(req.key_spec, req.number_of_bytes)?;
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOrAlias,
                "kms:GenerateDataKey",
            )
            .await?;
        require_enabled(&key.record)?;
        if req.dry_run == Some(true) {
            return Err(KmsError::DryRun);
        }
        let data_key = trent_crypto::random_bytes(length).map_err(internal("random"))?;
        let blob = encrypt_with(
            &key,
            &context_bytes(req.encryption_context.as_ref()),
            data_key.expose(),
        )?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: Some(blob),
            plaintext: Some(SensitiveBlob::from(data_key.into_vec())),
            key_id: Some(key.record.arn.clone()),
            key_material_id: Some(hex_encode(&key.current_material)),
            ..GenerateDataKeyResponse::default()
        })
    }
}
