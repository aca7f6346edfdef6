//! GenerateDataKeyWithoutPlaintext:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyWithoutPlaintext.html>

use trent_wire::{GenerateDataKeyWithoutPlaintextRequest, GenerateDataKeyWithoutPlaintextResponse};

use super::common::{context_bytes, encrypt_with};
use super::generate_data_key::data_key_length;
use crate::error::internal;
use crate::ids::Forms;
use crate::keys::{hex_encode, require_enabled};
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn generate_data_key_without_plaintext(
        &self,
        caller: &Caller,
        req: GenerateDataKeyWithoutPlaintextRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        let length = data_key_length(req.key_spec, req.number_of_bytes)?;
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOrAlias,
                "kms:GenerateDataKeyWithoutPlaintext",
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
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: Some(blob),
            key_id: Some(key.record.arn.clone()),
            key_material_id: Some(hex_encode(&key.current_material)),
        })
    }
}
