//! GenerateDataKeyWithoutPlaintext:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyWithoutPlaintext.html>

use trent_wire::{
    GenerateDataKeyWithoutPlaintextRequest, GenerateDataKeyWithoutPlaintextResponse, Operation,
};

use super::generate_data_key::DataKeyRequest;
use crate::keys::hex_encode;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn generate_data_key_without_plaintext(
        &self,
        caller: &Caller,
        req: GenerateDataKeyWithoutPlaintextRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        let request = DataKeyRequest {
            key_id: &req.key_id,
            key_spec: req.key_spec,
            number_of_bytes: req.number_of_bytes,
            context: req.encryption_context.as_ref(),
            grant_tokens: req.grant_tokens.as_ref(),
            dry_run: req.dry_run == Some(true),
        };
        let d = self
            .new_data_key(caller, request, Operation::GenerateDataKeyWithoutPlaintext)
            .await?;
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: Some(d.ciphertext),
            key_id: Some(d.key.record.arn.to_string()),
            key_material_id: Some(hex_encode(&d.material_id)),
        })
    }
}
