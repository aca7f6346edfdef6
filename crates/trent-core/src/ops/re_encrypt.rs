//! ReEncrypt: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html>
//! Decrypts under the source key and encrypts under the destination key without the
//! plaintext ever leaving Trent.

use trent_wire::{ReEncryptRequest, ReEncryptResponse};

use super::common::{check_symmetric_algorithm, context_bytes, encrypt_with, missing, Ciphertext};
use crate::ids::Forms;
use crate::keys::{hex_encode, require_enabled};
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn re_encrypt(
        &self,
        caller: &Caller,
        req: ReEncryptRequest,
    ) -> Result<ReEncryptResponse, KmsError> {
        let blob = req
            .ciphertext_blob
            .as_deref()
            .ok_or_else(|| missing("ciphertextBlob"))?;
        let destination = self
            .resolve(
                caller,
                &req.destination_key_id,
                Forms::KeyOrAlias,
                "kms:ReEncryptTo",
            )
            .await?;
        require_enabled(&destination.record)?;
        let destination_algorithm =
            check_symmetric_algorithm(&destination, req.destination_encryption_algorithm)?;
        let source = self
            .decrypt_blob(
                caller,
                Ciphertext {
                    blob,
                    key_id: req.source_key_id.as_deref(),
                    context: req.source_encryption_context.as_ref(),
                    algorithm: req.source_encryption_algorithm,
                },
                "kms:ReEncryptFrom",
                req.dry_run == Some(true),
            )
            .await?;
        let new_blob = encrypt_with(
            &destination,
            &context_bytes(req.destination_encryption_context.as_ref()),
            source.plaintext.expose(),
        )?;
        Ok(ReEncryptResponse {
            ciphertext_blob: Some(new_blob),
            source_key_id: Some(source.key.record.arn.clone()),
            key_id: Some(destination.record.arn.clone()),
            source_encryption_algorithm: Some(
                trent_wire::EncryptionAlgorithmSpec::SymmetricDefault,
            ),
            destination_encryption_algorithm: Some(destination_algorithm),
            source_key_material_id: Some(source.material_id),
            destination_key_material_id: Some(hex_encode(&destination.current_material)),
        })
    }
}
