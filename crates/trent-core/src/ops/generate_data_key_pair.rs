//! GenerateDataKeyPair:
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html>
//!
//! A fresh key pair for use outside Trent: the public key (DER SubjectPublicKeyInfo), the
//! private key (DER PKCS#8 PrivateKeyInfo, RFC 5958), and the private key encrypted under
//! a symmetric encryption KMS key as an ordinary ciphertext blob that Decrypt opens.

use std::collections::BTreeMap;
use std::sync::Arc;

use trent_crypto::{AsymmetricKeySpec, PrivateKey};
use trent_wire::{
    DataKeyPairSpec, GenerateDataKeyPairRequest, GenerateDataKeyPairResponse, Operation,
    SensitiveBlob,
};

use super::common::{context_bytes, encrypt_with};
use super::generate_data_key::SYMMETRIC_DEFAULT;
use crate::authz::Access;
use crate::keys::{hex_encode, Key};
use crate::{Caller, KeyService, KmsError};

/// What GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext ask for.
pub(crate) struct DataKeyPairRequest<'a> {
    pub key_id: &'a str,
    pub spec: DataKeyPairSpec,
    pub context: Option<&'a BTreeMap<String, String>>,
    pub grant_tokens: Option<&'a Vec<String>>,
    pub dry_run: bool,
}

/// A fresh data key pair and its encrypted private key.
pub(crate) struct DataKeyPair {
    pub key: Arc<Key>,
    pub private_key: PrivateKey,
    pub ciphertext: Vec<u8>,
    /// The material version that encrypted the private key.
    pub material_id: [u8; 32],
}

impl KeyService {
    pub(crate) async fn new_data_key_pair(
        &self,
        caller: &Caller,
        req: DataKeyPairRequest<'_>,
        operation: Operation,
    ) -> Result<DataKeyPair, KmsError> {
        let spec = AsymmetricKeySpec::from_wire(req.spec.as_str()).ok_or(KmsError::Internal)?;
        let access = Access::of(operation)
            .encryption_context(req.context)
            .grant_tokens(req.grant_tokens)
            .with("kms:EncryptionAlgorithm", SYMMETRIC_DEFAULT)
            .with("kms:DataKeyPairSpec", req.spec.as_str());
        let key = self
            .data_key_wrapping_key(caller, req.key_id, access, operation)
            .await?;
        // The pair spec's own quota, besides the wrapping key's (counted above).
        self.throttle_data_key_pair(caller, req.spec.as_str())?;
        if req.dry_run {
            return Err(KmsError::DryRun);
        }
        // RSA generation takes from ~75 ms (RSA_2048) to seconds (RSA_4096): RSA pairs
        // come from a pool generated ahead of need, the others (microseconds) are made
        // now; either way off the request threads.
        let rsa = matches!(
            spec,
            AsymmetricKeySpec::Rsa2048 | AsymmetricKeySpec::Rsa3072 | AsymmetricKeySpec::Rsa4096
        );
        let private_key = if rsa {
            self.data_key_pairs.take(spec).await?
        } else {
            self.data_key_pairs.generate_now(spec).await?
        };
        let encrypted = encrypt_with(
            &key,
            &context_bytes(req.context),
            private_key.pkcs8().expose(),
        )
        .await?;
        Ok(DataKeyPair {
            key,
            private_key,
            ciphertext: encrypted.blob,
            material_id: encrypted.material_id,
        })
    }

    pub async fn generate_data_key_pair(
        &self,
        caller: &Caller,
        req: GenerateDataKeyPairRequest,
    ) -> Result<GenerateDataKeyPairResponse, KmsError> {
        if req.recipient.is_some() {
            return Err(KmsError::Unsupported {
                what: "Recipient (Nitro Enclaves attestation)".into(),
            });
        }
        let request = DataKeyPairRequest {
            key_id: &req.key_id,
            spec: req.key_pair_spec,
            context: req.encryption_context.as_ref(),
            grant_tokens: req.grant_tokens.as_ref(),
            dry_run: req.dry_run == Some(true),
        };
        let pair = self
            .new_data_key_pair(caller, request, Operation::GenerateDataKeyPair)
            .await?;
        Ok(GenerateDataKeyPairResponse {
            private_key_ciphertext_blob: Some(pair.ciphertext),
            private_key_plaintext: Some(SensitiveBlob::from(
                pair.private_key.pkcs8().expose().to_vec(),
            )),
            public_key: Some(pair.private_key.public_key().der().to_vec()),
            key_id: Some(pair.key.record.arn.to_string()),
            key_pair_spec: Some(req.key_pair_spec),
            key_material_id: Some(hex_encode(&pair.material_id)),
            ..GenerateDataKeyPairResponse::default()
        })
    }
}
