//! GetPublicKey: <https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html>
//!
//! Works on enabled and disabled keys (AWS answers a disabled key's public key); a key
//! pending deletion is refused first, then a key without a public key (symmetric, HMAC)
//! with UnsupportedOperationException and no message, as AWS does.

use trent_wire::{CustomerMasterKeySpec, GetPublicKeyRequest, GetPublicKeyResponse, Operation};

use crate::authz::Access;
use crate::backend::KeyHandle;
use crate::ids::Forms;
use crate::keys::require_not_pending_deletion;
use crate::keyspec::algorithm_lists;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn get_public_key(
        &self,
        caller: &Caller,
        req: GetPublicKeyRequest,
    ) -> Result<GetPublicKeyResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOrAlias,
                Access::of(Operation::GetPublicKey).grant_tokens(req.grant_tokens.as_ref()),
            )
            .await?;
        require_not_pending_deletion(&key.record)?;
        let kind = key.kind();
        let public_key = key.handle.public_key().ok_or(KmsError::NoPublicKey)?;
        let usage = key.record.key_usage;
        let lists = algorithm_lists(kind, usage);
        Ok(GetPublicKeyResponse {
            key_id: Some(key.record.arn.to_string()),
            public_key: Some(public_key.to_vec()),
            customer_master_key_spec: CustomerMasterKeySpec::parse(key.record.key_spec.as_str()),
            key_spec: Some(key.record.key_spec),
            key_usage: Some(usage),
            encryption_algorithms: lists.encryption,
            signing_algorithms: lists.signing,
            key_agreement_algorithms: lists.key_agreement,
        })
    }
}
