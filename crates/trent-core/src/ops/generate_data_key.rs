//! GenerateDataKey: <https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html>

use std::collections::BTreeMap;
use std::sync::Arc;

use trent_crypto::SecretBytes;
use trent_wire::{
    DataKeySpec, GenerateDataKeyRequest, GenerateDataKeyResponse, KeyUsageType, Operation,
    SensitiveBlob,
};

use super::common::{context_bytes, encrypt_with, require_usage};
use crate::authz::Access;
use crate::error::internal;
use crate::ids::Forms;
use crate::keys::{hex_encode, require_enabled, Key};
use crate::keyspec::KeyKind;
use crate::{Caller, KeyService, KmsError};

/// `kms:EncryptionAlgorithm` of the data key operations: they always encrypt under a
/// symmetric key with SYMMETRIC_DEFAULT.
pub(crate) const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

/// What GenerateDataKey and GenerateDataKeyWithoutPlaintext ask for.
pub(crate) struct DataKeyRequest<'a> {
    pub key_id: &'a str,
    pub key_spec: Option<DataKeySpec>,
    pub number_of_bytes: Option<i32>,
    pub context: Option<&'a BTreeMap<String, String>>,
    pub grant_tokens: Option<&'a Vec<String>>,
    pub dry_run: bool,
}

/// A fresh data key and its ciphertext under a KMS key.
pub(crate) struct DataKey {
    pub key: Arc<Key>,
    pub plaintext: SecretBytes,
    pub ciphertext: Vec<u8>,
    /// The material version that encrypted it.
    pub material_id: [u8; 32],
}

/// How many bytes a data key has: exactly one of `KeySpec` and `NumberOfBytes`.
fn data_key_length(
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
    /// The symmetric encryption key that protects a data key or a data key pair's private
    /// key: usage ENCRYPT_DECRYPT (checked before the key state, as AWS does), enabled,
    /// and symmetric.
    pub(crate) async fn data_key_wrapping_key(
        &self,
        caller: &Caller,
        key_id: &str,
        access: Access<'_>,
        operation: Operation,
    ) -> Result<Arc<Key>, KmsError> {
        let key = self
            .resolve(caller, key_id, Forms::KeyOrAlias, access)
            .await?;
        require_usage(&key, KeyUsageType::EncryptDecrypt, operation)?;
        require_enabled(&key.record)?;
        if key.kind() != KeyKind::Symmetric {
            return Err(KmsError::AsymmetricDataKey);
        }
        Ok(key)
    }

    pub(crate) async fn new_data_key(
        &self,
        caller: &Caller,
        req: DataKeyRequest<'_>,
        operation: Operation,
    ) -> Result<DataKey, KmsError> {
        let length = data_key_length(req.key_spec, req.number_of_bytes)?;
        let access = Access::of(operation)
            .encryption_context(req.context)
            .grant_tokens(req.grant_tokens)
            .with("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT);
        let key = self
            .data_key_wrapping_key(caller, req.key_id, access, operation)
            .await?;
        if req.dry_run {
            return Err(KmsError::DryRun);
        }
        let plaintext = trent_crypto::random_bytes(length).map_err(internal("random"))?;
        let encrypted = encrypt_with(&key, &context_bytes(req.context), plaintext.expose()).await?;
        Ok(DataKey {
            key,
            plaintext,
            ciphertext: encrypted.blob,
            material_id: encrypted.material_id,
        })
    }

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
        let request = DataKeyRequest {
            key_id: &req.key_id,
            key_spec: req.key_spec,
            number_of_bytes: req.number_of_bytes,
            context: req.encryption_context.as_ref(),
            grant_tokens: req.grant_tokens.as_ref(),
            dry_run: req.dry_run == Some(true),
        };
        let d = self
            .new_data_key(caller, request, Operation::GenerateDataKey)
            .await?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: Some(d.ciphertext),
            plaintext: Some(SensitiveBlob::from(d.plaintext.into_vec())),
            key_id: Some(d.key.record.arn.to_string()),
            key_material_id: Some(hex_encode(&d.material_id)),
            ..GenerateDataKeyResponse::default()
        })
    }
}
