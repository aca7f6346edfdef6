//! GenerateDataKeyPairWithoutPlaintext:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPairWithoutPlaintext.html>
//! As GenerateDataKeyPair, without the plaintext private key.

use trent_wire::{
    GenerateDataKeyPairWithoutPlaintextRequest, GenerateDataKeyPairWithoutPlaintextResponse,
    Operation,
};

use super::generate_data_key_pair::DataKeyPairRequest;
use crate::keys::hex_encode;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn generate_data_key_pair_without_plaintext(
        &self,
        caller: &Caller,
        req: GenerateDataKeyPairWithoutPlaintextRequest,
    ) -> Result<GenerateDataKeyPairWithoutPlaintextResponse, KmsError> {
        let request = DataKeyPairRequest {
            key_id: &req.key_id,
            spec: req.key_pair_spec,
            context: req.encryption_context.as_ref(),
            grant_tokens: req.grant_tokens.as_ref(),
            dry_run: req.dry_run == Some(true),
        };
        let pair = self
            .new_data_key_pair(
                caller,
                request,
                Operation::GenerateDataKeyPairWithoutPlaintext,
            )
            .await?;
        Ok(GenerateDataKeyPairWithoutPlaintextResponse {
            private_key_ciphertext_blob: Some(pair.ciphertext),
            public_key: Some(pair.private_key.public_key().der().to_vec()),
            key_id: Some(pair.key.record.arn.to_string()),
            key_pair_spec: Some(req.key_pair_spec),
            key_material_id: Some(hex_encode(&pair.material_id)),
        })
    }
}
