//! ReEncrypt: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html>
//! Decrypts under the source key and encrypts under the destination key without the
//! plaintext ever leaving Trent. Either key may be symmetric or asymmetric
//! (SourceEncryptionAlgorithm / DestinationEncryptionAlgorithm name the asymmetric ones).

use trent_crypto::parse_blob;
use trent_wire::{
    EncryptionAlgorithmSpec, KeyUsageType, Operation, ReEncryptRequest, ReEncryptResponse,
};

use super::common::{
    choose_encryption, context_bytes, encrypt_for, missing, require_usage, Ciphertext,
};
use crate::authz::{Access, RE_ENCRYPT_FROM, RE_ENCRYPT_TO};
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
        let located = self
            .locate(caller, &req.destination_key_id, Forms::KeyOrAlias)
            .await?;
        let destination = located.key;
        // kms:ReEncryptOnSameKey: the source key is the one a symmetric ciphertext names,
        // else the SourceKeyId (an asymmetric ciphertext names nothing).
        let same_key = match parse_blob(blob) {
            Ok(parsed) => parsed.header.key_id == destination.key_id_bytes,
            Err(_) => req.source_key_id.as_deref().is_some_and(|s| {
                s == crate::keys::public_key_id(&destination.record) || s == destination.record.arn
            }),
        };
        let access = |action| {
            Access::new(action)
                .grant_tokens(req.grant_tokens.as_ref())
                .with("kms:ReEncryptOnSameKey", same_key)
        };
        self.authorize(
            caller,
            &destination,
            &access(RE_ENCRYPT_TO)
                .encryption_context(req.destination_encryption_context.as_ref())
                .with(
                    "kms:EncryptionAlgorithm",
                    req.destination_encryption_algorithm
                        .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault)
                        .as_str(),
                ),
            located.alias.as_deref(),
        )
        .await?;
        require_usage(
            &destination,
            KeyUsageType::EncryptDecrypt,
            Operation::ReEncrypt,
        )?;
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
                access(RE_ENCRYPT_FROM)
                    .encryption_context(req.source_encryption_context.as_ref())
                    .with(
                        "kms:EncryptionAlgorithm",
                        req.source_encryption_algorithm
                            .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault)
                            .as_str(),
                    ),
                Operation::ReEncrypt,
                req.dry_run == Some(true),
            )
            .await?;
        let (new_blob, destination_material) = encrypt_for(
            &destination,
            encryption,
            &context_bytes(req.destination_encryption_context.as_ref()),
            source.plaintext.expose(),
        )
        .await?;
        Ok(ReEncryptResponse {
            ciphertext_blob: Some(new_blob),
            source_key_id: Some(source.key.record.arn.to_string()),
            key_id: Some(destination.record.arn.to_string()),
            source_encryption_algorithm: Some(source.algorithm),
            destination_encryption_algorithm: Some(encryption.wire()),
            source_key_material_id: source.material_id,
            destination_key_material_id: destination_material.map(|m| hex_encode(&m)),
        })
    }
}
