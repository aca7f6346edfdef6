//! Pieces several operations share: tags, paging, encryption contexts, symmetric
//! encryption and decryption of ciphertext blobs.

use std::collections::BTreeMap;
use std::sync::Arc;

use trent_crypto::{canonical_encryption_context, parse_blob, BlobHeader, SecretBytes};
use trent_wire::{EncryptionAlgorithmSpec, Tag};

use crate::cache::LoadedKey;
use crate::ids::Forms;
use crate::keys::{hex_encode, require_enabled};
use crate::{Caller, KeyService, KmsError};

/// AWS's quota of tags on one KMS key.
pub(crate) const MAX_TAGS: usize = 50;
pub(crate) const DEFAULT_LIMIT: i32 = 100;

/// Checks tags as AWS does (reserved `aws:` prefix, no duplicate keys in one request).
pub(crate) fn check_tags(tags: &[Tag]) -> Result<(), KmsError> {
    let mut seen = std::collections::HashSet::new();
    for t in tags {
        if t.tag_key.to_ascii_lowercase().starts_with("aws:") {
            return Err(KmsError::ReservedTag);
        }
        if !seen.insert(t.tag_key.as_str()) {
            return Err(KmsError::DuplicateTagKey {
                tag_key: t.tag_key.clone(),
            });
        }
    }
    Ok(())
}

/// Sets tags on a key's tag list: an existing key gets the new value, in place.
pub(crate) fn merge_tags(
    existing: &mut Vec<(String, String)>,
    tags: &[Tag],
) -> Result<(), KmsError> {
    for t in tags {
        match existing.iter_mut().find(|(k, _)| *k == t.tag_key) {
            Some(slot) => slot.1 = t.tag_value.clone(),
            None => existing.push((t.tag_key.clone(), t.tag_value.clone())),
        }
    }
    if existing.len() > MAX_TAGS {
        return Err(KmsError::TooManyTags { limit: MAX_TAGS });
    }
    Ok(())
}

pub(crate) fn limit(limit: Option<i32>) -> u32 {
    u32::try_from(limit.unwrap_or(DEFAULT_LIMIT).clamp(1, 1000)).unwrap_or(100)
}

pub(crate) fn context_bytes(context: Option<&BTreeMap<String, String>>) -> Vec<u8> {
    match context {
        Some(c) if !c.is_empty() => {
            canonical_encryption_context(c.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        }
        _ => Vec::new(),
    }
}

/// Symmetric keys take SYMMETRIC_DEFAULT only.
pub(crate) fn check_symmetric_algorithm(
    key: &LoadedKey,
    algorithm: Option<EncryptionAlgorithmSpec>,
) -> Result<EncryptionAlgorithmSpec, KmsError> {
    match algorithm {
        None | Some(EncryptionAlgorithmSpec::SymmetricDefault) => {
            Ok(EncryptionAlgorithmSpec::SymmetricDefault)
        }
        Some(other) => Err(KmsError::InvalidEncryptionAlgorithm {
            arn: key.record.arn.clone(),
            algorithm: other.as_str().to_owned(),
            key_spec: key.record.key_spec.clone(),
        }),
    }
}

/// Encrypts under the key's current material.
pub(crate) fn encrypt_with(
    key: &LoadedKey,
    context: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let material = key.current().ok_or(KmsError::Internal)?;
    let header = BlobHeader {
        key_id: key.key_id_bytes,
        material_id: key.current_material,
    };
    material
        .encrypt(&header, context, plaintext)
        .map_err(crate::error::internal("encrypting"))
}

/// The result of decrypting a ciphertext blob.
pub(crate) struct Decrypted {
    pub key: Arc<LoadedKey>,
    pub plaintext: SecretBytes,
    pub material_id: String,
}

/// A ciphertext to decrypt, as a request gives it.
pub(crate) struct Ciphertext<'a> {
    pub blob: &'a [u8],
    /// The key the caller says encrypted it (optional for symmetric keys).
    pub key_id: Option<&'a str>,
    pub context: Option<&'a BTreeMap<String, String>>,
    pub algorithm: Option<EncryptionAlgorithmSpec>,
}

impl KeyService {
    /// Decrypts a symmetric ciphertext blob: the blob names its key; an explicit `key_id`
    /// must name the same key (`IncorrectKeyException` otherwise).
    pub(crate) async fn decrypt_blob(
        &self,
        caller: &Caller,
        ciphertext: Ciphertext<'_>,
        action: &'static str,
        dry_run: bool,
    ) -> Result<Decrypted, KmsError> {
        let parsed = parse_blob(ciphertext.blob).map_err(|_| KmsError::InvalidCiphertext)?;
        let blob_key_id = uuid::Uuid::from_bytes(parsed.header.key_id)
            .hyphenated()
            .to_string();
        let key = match ciphertext.key_id {
            Some(requested) => {
                let key = self
                    .resolve(caller, requested, Forms::KeyOrAlias, action)
                    .await?;
                if key.record.key_id != blob_key_id {
                    return Err(KmsError::IncorrectKey);
                }
                key
            }
            None => {
                let key = self
                    .load(&blob_key_id)
                    .await?
                    .ok_or(KmsError::InvalidCiphertext)?;
                if key.record.region != caller.region {
                    return Err(KmsError::InvalidCiphertext);
                }
                self.check_access(caller, &key.record, action)?;
                key
            }
        };
        require_enabled(&key.record)?;
        check_symmetric_algorithm(&key, ciphertext.algorithm)?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        let material = key
            .materials
            .get(&parsed.header.material_id)
            .ok_or(KmsError::InvalidCiphertext)?;
        let plaintext = material
            .decrypt(&parsed, &context_bytes(ciphertext.context))
            .map_err(|_| KmsError::InvalidCiphertext)?;
        let material_id = hex_encode(&parsed.header.material_id);
        Ok(Decrypted {
            key,
            plaintext,
            material_id,
        })
    }
}

/// A member the operation needs although the model marks it optional.
pub(crate) fn missing(member: &str) -> KmsError {
    KmsError::Validation {
        message: format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ),
    }
}
