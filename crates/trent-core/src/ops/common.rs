//! Pieces several operations share: tags, paging, encryption contexts, key-usage and
//! algorithm checks, encryption and decryption under symmetric and asymmetric keys.

use std::collections::BTreeMap;
use std::sync::Arc;

use trent_crypto::{
    canonical_encryption_context, parse_blob, AsymmetricEncryptionAlgorithm, AsymmetricKeySpec,
    SecretBytes,
};
use trent_wire::{EncryptionAlgorithmSpec, KeyUsageType, Operation, Tag};

use crate::authz::Access;
use crate::backend::{Encrypted, KeyHandle};
use crate::error::internal;
use crate::ids::Forms;
use crate::keys::{hex_encode, require_enabled, Key};
use crate::keyspec::KeyKind;
use crate::{Caller, KeyService, KmsError};

/// AWS's quota of tags on one KMS key.
pub(crate) const MAX_TAGS: usize = 50;
pub(crate) const DEFAULT_LIMIT: i32 = 100;

/// Checks tags as AWS does, in AWS's order (LocalStack's `validate_and_filter_tags`,
/// recorded against AWS): no duplicate keys in one request (`Duplicate tag keys`), at most
/// 50 tags in it (`Too many tags`), then no reserved `aws:` prefix.
pub(crate) fn check_tags(tags: &[Tag]) -> Result<(), KmsError> {
    let mut seen = std::collections::HashSet::new();
    if !tags.iter().all(|t| seen.insert(t.tag_key.as_str())) {
        return Err(KmsError::DuplicateTagKey);
    }
    if tags.len() > MAX_TAGS {
        return Err(KmsError::TooManyTags);
    }
    if tags
        .iter()
        .any(|t| t.tag_key.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(KmsError::ReservedTag);
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
        return Err(KmsError::TooManyTags);
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

/// AWS refuses a key whose KeyUsage does not fit the operation before it looks at the key
/// state: `<arn> key usage is SIGN_VERIFY which is not valid for Encrypt.`
pub(crate) fn require_usage(
    key: &Key,
    usage: KeyUsageType,
    operation: Operation,
) -> Result<(), KmsError> {
    let actual = key.record.key_usage;
    if actual == usage {
        Ok(())
    } else {
        Err(KmsError::InvalidKeyUsage {
            arn: key.record.arn.to_string(),
            usage: actual.as_str().to_owned(),
            operation: operation.name(),
        })
    }
}

/// `Algorithm X is incompatible with key spec Y.` (InvalidKeyUsageException).
pub(crate) fn incompatible(algorithm: &str, key: &Key) -> KmsError {
    KmsError::IncompatibleAlgorithm {
        algorithm: algorithm.to_owned(),
        key_spec: key.record.key_spec.as_str().to_owned(),
    }
}

/// Symmetric keys take SYMMETRIC_DEFAULT only.
pub(crate) fn check_symmetric_algorithm(
    key: &Key,
    algorithm: Option<EncryptionAlgorithmSpec>,
) -> Result<EncryptionAlgorithmSpec, KmsError> {
    match algorithm {
        None | Some(EncryptionAlgorithmSpec::SymmetricDefault) => {
            Ok(EncryptionAlgorithmSpec::SymmetricDefault)
        }
        Some(other) => Err(incompatible(other.as_str(), key)),
    }
}

/// How an ENCRYPT_DECRYPT key encrypts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Encryption {
    /// A Trent ciphertext blob under the key's current AES-256-GCM material.
    Symmetric,
    /// RSAES-OAEP or SM2PKE with the key's public key.
    Asymmetric(AsymmetricKeySpec, AsymmetricEncryptionAlgorithm),
}

impl Encryption {
    pub fn wire(self) -> EncryptionAlgorithmSpec {
        match self {
            Encryption::Symmetric => EncryptionAlgorithmSpec::SymmetricDefault,
            Encryption::Asymmetric(_, a) => EncryptionAlgorithmSpec::parse(a.wire_name())
                .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault),
        }
    }
}

/// The algorithm an encryption under `key` uses (Encrypt, ReEncrypt's destination). The
/// caller has checked the usage. Asymmetric keys need an algorithm of their spec; the
/// default, SYMMETRIC_DEFAULT, is refused as AWS refuses it.
pub(crate) fn choose_encryption(
    key: &Key,
    requested: Option<EncryptionAlgorithmSpec>,
) -> Result<Encryption, KmsError> {
    match key.kind() {
        KeyKind::Symmetric => {
            check_symmetric_algorithm(key, requested)?;
            Ok(Encryption::Symmetric)
        }
        KeyKind::Asymmetric(spec) => {
            let name = requested
                .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault)
                .as_str();
            let alg = AsymmetricEncryptionAlgorithm::from_wire(name)
                .filter(|a| AsymmetricEncryptionAlgorithm::for_spec(spec).contains(a))
                .ok_or_else(|| incompatible(name, key))?;
            Ok(Encryption::Asymmetric(spec, alg))
        }
        // Unreachable once the usage is ENCRYPT_DECRYPT; refuse like a usage mismatch.
        KeyKind::Hmac(_) => Err(incompatible(
            requested
                .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault)
                .as_str(),
            key,
        )),
    }
}

/// The plaintext limits of asymmetric encryption (Encrypt's Plaintext documentation):
/// `Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than
/// 190 bytes.`
pub(crate) fn check_plaintext_len(encryption: Encryption, len: usize) -> Result<(), KmsError> {
    if let Encryption::Asymmetric(spec, alg) = encryption {
        if let Some(max) = alg.max_plaintext_len(spec) {
            if len > max {
                return Err(KmsError::Validation {
                    message: format!(
                        "Algorithm {} and key spec {} cannot encrypt data larger than {max} bytes.",
                        alg.wire_name(),
                        spec.wire_name()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Encrypts under a key: a Trent blob for symmetric keys (bound to `context`), the raw
/// RSAES-OAEP / SM2PKE ciphertext for asymmetric ones (which take no context). Returns the
/// ciphertext and, for a symmetric key, the material version that made it.
pub(crate) async fn encrypt_for(
    key: &Key,
    encryption: Encryption,
    context: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Option<[u8; 32]>), KmsError> {
    match encryption {
        Encryption::Symmetric => {
            let encrypted = encrypt_with(key, context, plaintext).await?;
            Ok((encrypted.blob, Some(encrypted.material_id)))
        }
        Encryption::Asymmetric(_, alg) => {
            check_plaintext_len(encryption, plaintext.len())?;
            let ciphertext = key
                .handle
                .asymmetric_encrypt(alg, plaintext)
                .await
                .map_err(|e| e.into_kms(internal("encrypting with a public key")))?;
            Ok((ciphertext, None))
        }
    }
}

/// Encrypts into a ciphertext blob under the key's current symmetric material.
pub(crate) async fn encrypt_with(
    key: &Key,
    context: &[u8],
    plaintext: &[u8],
) -> Result<Encrypted, KmsError> {
    key.handle
        .encrypt(key.key_id_bytes, context, plaintext)
        .await
        .map_err(|e| e.into_kms(internal("encrypting")))
}

/// The result of decrypting a ciphertext.
pub(crate) struct Decrypted {
    pub key: Arc<Key>,
    pub plaintext: SecretBytes,
    /// The symmetric material that decrypted it (asymmetric keys have none to report).
    pub material_id: Option<String>,
    pub algorithm: EncryptionAlgorithmSpec,
}

/// A ciphertext to decrypt, as a request gives it.
pub(crate) struct Ciphertext<'a> {
    pub blob: &'a [u8],
    /// The key the caller says encrypted it (optional for symmetric keys, required for
    /// asymmetric ones).
    pub key_id: Option<&'a str>,
    pub context: Option<&'a BTreeMap<String, String>>,
    pub algorithm: Option<EncryptionAlgorithmSpec>,
}

impl KeyService {
    /// Decrypts a ciphertext (Decrypt, ReEncrypt's source).
    ///
    /// A symmetric ciphertext blob names its key; an explicit `key_id` must name the same
    /// key (`IncorrectKeyException` otherwise). A ciphertext of an asymmetric key carries
    /// nothing but the RSAES-OAEP / SM2PKE output, so the request must name the key and
    /// its algorithm (Decrypt's KeyId and EncryptionAlgorithm documentation).
    pub(crate) async fn decrypt_blob(
        &self,
        caller: &Caller,
        ciphertext: Ciphertext<'_>,
        access: Access<'_>,
        operation: Operation,
        dry_run: bool,
    ) -> Result<Decrypted, KmsError> {
        let (key, parsed) = match ciphertext.key_id {
            Some(requested) => {
                let key = self
                    .resolve(caller, requested, Forms::KeyOrAlias, access)
                    .await?;
                match key.kind() {
                    KeyKind::Symmetric => {}
                    KeyKind::Asymmetric(spec)
                        if key.record.key_usage == KeyUsageType::EncryptDecrypt =>
                    {
                        return self
                            .decrypt_asymmetric(key, spec, &ciphertext, dry_run)
                            .await;
                    }
                    // A key that cannot encrypt: a Trent blob names some other key.
                    _ => {
                        if parse_blob(ciphertext.blob).is_ok() {
                            return Err(KmsError::IncorrectKey);
                        }
                        require_usage(&key, KeyUsageType::EncryptDecrypt, operation)?;
                    }
                }
                let parsed =
                    parse_blob(ciphertext.blob).map_err(|_| KmsError::InvalidCiphertext)?;
                // The same bytes name a multi-Region key in every region.
                if key.key_id_bytes != parsed.header.key_id {
                    return Err(KmsError::IncorrectKey);
                }
                (key, parsed)
            }
            None => {
                let parsed =
                    parse_blob(ciphertext.blob).map_err(|_| KmsError::InvalidCiphertext)?;
                // A multi-Region key's blob decrypts under its region-key of the caller's
                // region, whichever region made it.
                let key = self
                    .key_by_id_bytes(&parsed.header.key_id, &caller.region)
                    .await?
                    .ok_or(KmsError::InvalidCiphertext)?;
                if key.record.region != caller.region {
                    return Err(KmsError::InvalidCiphertext);
                }
                self.authorize(caller, &key, &access, None).await?;
                (key, parsed)
            }
        };
        require_enabled(&key.record)?;
        check_symmetric_algorithm(&key, ciphertext.algorithm)?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        let plaintext = key
            .handle
            .decrypt(&parsed, &context_bytes(ciphertext.context))
            .await
            .map_err(|e| e.into_kms(|_| KmsError::InvalidCiphertext))?;
        let material_id = hex_encode(&parsed.header.material_id);
        Ok(Decrypted {
            key,
            plaintext,
            material_id: Some(material_id),
            algorithm: EncryptionAlgorithmSpec::SymmetricDefault,
        })
    }

    async fn decrypt_asymmetric(
        &self,
        key: Arc<Key>,
        spec: AsymmetricKeySpec,
        ciphertext: &Ciphertext<'_>,
        dry_run: bool,
    ) -> Result<Decrypted, KmsError> {
        require_enabled(&key.record)?;
        // AWS reads a ciphertext with the default SYMMETRIC_DEFAULT algorithm as a
        // symmetric blob, which an RSA/SM2 ciphertext is not: InvalidCiphertextException.
        let name = match ciphertext.algorithm {
            None | Some(EncryptionAlgorithmSpec::SymmetricDefault) => {
                return Err(KmsError::InvalidCiphertext)
            }
            Some(a) => a.as_str(),
        };
        let alg = AsymmetricEncryptionAlgorithm::from_wire(name)
            .filter(|a| AsymmetricEncryptionAlgorithm::for_spec(spec).contains(a))
            .ok_or_else(|| incompatible(name, &key))?;
        if dry_run {
            return Err(KmsError::DryRun);
        }
        let plaintext = key
            .handle
            .asymmetric_decrypt(alg, ciphertext.blob)
            .await
            .map_err(|e| e.into_kms(|_| KmsError::InvalidCiphertext))?;
        Ok(Decrypted {
            key,
            plaintext,
            material_id: None,
            algorithm: EncryptionAlgorithmSpec::parse(alg.wire_name())
                .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault),
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
