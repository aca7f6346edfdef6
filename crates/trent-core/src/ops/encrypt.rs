//! Encrypt: <https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html>

use trent_wire::{EncryptRequest, EncryptResponse};

use super::common::{check_symmetric_algorithm, context_bytes, encrypt_with};
use crate::ids::Forms;
use crate::keys::require_enabled;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn encrypt(
        &self,
        caller: &Caller,
        req: EncryptRequest,
    ) -> Result<EncryptResponse, KmsError> {
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOrAlias, "kms:Encrypt")
            .await?;
        require_enabled(&key.record)?;
        let algorithm = check_symmetric_algorithm(&key, req.encryption_algorithm)?;
        if req.dry_run == Some(true) {
            return Err(KmsError::DryRun);
        }
        let blob = encrypt_with(
            &key,
            &context_bytes(req.encryption_context.as_ref()),
            req.plaintext.expose(),
        )?;
        Ok(EncryptResponse {
            ciphertext_blob: Some(blob),
            key_id: Some(key.record.arn.clone()),
            encryption_algorithm: Some(algorithm),
        })
    }
}
