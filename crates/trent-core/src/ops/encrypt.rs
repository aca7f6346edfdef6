//! Encrypt: <https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html>
//!
//! Symmetric keys produce a Trent ciphertext blob; RSA and SM2 keys with ENCRYPT_DECRYPT
//! usage produce the raw RSAES-OAEP / SM2PKE ciphertext, which anyone holding the public
//! key (GetPublicKey) could equally have made.

use trent_wire::{
    EncryptRequest, EncryptResponse, EncryptionAlgorithmSpec, KeyUsageType, Operation,
};

use super::common::{
    check_plaintext_len, choose_encryption, context_bytes, encrypt_for, require_usage,
};
use crate::authz::Access;
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
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOrAlias,
                Access::of(Operation::Encrypt)
                    .encryption_context(req.encryption_context.as_ref())
                    .grant_tokens(req.grant_tokens.as_ref())
                    .with(
                        "kms:EncryptionAlgorithm",
                        req.encryption_algorithm
                            .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault)
                            .as_str(),
                    ),
            )
            .await?;
        require_usage(&key, KeyUsageType::EncryptDecrypt, Operation::Encrypt)?;
        require_enabled(&key.record)?;
        let encryption = choose_encryption(&key, req.encryption_algorithm)?;
        check_plaintext_len(encryption, req.plaintext.expose().len())?;
        if req.dry_run == Some(true) {
            return Err(KmsError::DryRun);
        }
        let (blob, _) = encrypt_for(
            &key,
            encryption,
            &context_bytes(req.encryption_context.as_ref()),
            req.plaintext.expose(),
        )
        .await?;
        Ok(EncryptResponse {
            ciphertext_blob: Some(blob),
            key_id: Some(key.record.arn.to_string()),
            encryption_algorithm: Some(encryption.wire()),
        })
    }
}
