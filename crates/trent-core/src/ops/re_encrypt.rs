//! ReEncrypt: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html>
//! Decrypts under the source key and encrypts under the destination key without the
//! plaintext ever leaving Trent. Either key may be symmetric or asymmetric
//! (SourceEncryptionAlgorithm / DestinationEncryptionAlgorithm name the asymmetric ones).

use trent_wire::{KeyUsageType, ReEncryptRequest, ReEncryptResponse};

use super::common::{
    choose_encryption, context_bytes, encrypt_for, missing, require_usage, Ciphertext, Encryption,
};
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
        require_usage(&destination, KeyUsageType::EncryptDecrypt, "ReEncrypt")?;
        require_enabled(&destination.record)?;
        let encryption = choose_encryption(&destination, req.destination_encryption_algorithm)?;
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
                "ReEncrypt",
                req.dry_run == Some(true),
            )
            .await?;
        let new_blob = encrypt_for(
            &destination,
            encryption,
            &context_bytes(req.destination_encryption_context.as_ref()),
            source.plaintext.expose(),
        )?;
        Ok(ReEncryptResponse {
            ciphertext_blob: Some(new_blob),
            source_key_id: Some(source.key.record.arn.clone()),
            key_id: Some(destination.record.arn.clone()),
            source_encryption_algorithm: Some(source.algorithm),
            destination_encryption_algorithm: Some(encryption.wire()),
            source_key_material_id: source.material_id,
            destination_key_material_id: matches!(encryption, Encryption::Symmetric)
                .then(|| hex_encode(&destination.current_material)),
        })
    }
}
