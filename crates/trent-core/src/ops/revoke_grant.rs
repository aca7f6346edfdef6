//! RevokeGrant: <https://docs.aws.amazon.com/kms/latest/APIReference/API_RevokeGrant.html>
//!
//! Authorized like most operations, by `kms:RevokeGrant` in the key policy (and IAM
//! policies). Allowed in every key state. Takes effect on every node through the change
//! feed.

use trent_store::StoreError;
use trent_wire::{Operation, RevokeGrantRequest, RevokeGrantResponse};

use crate::error::internal;
use crate::grants::grant_id_bytes;
use crate::ids::Forms;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn revoke_grant(
        &self,
        caller: &Caller,
        req: RevokeGrantRequest,
    ) -> Result<RevokeGrantResponse, KmsError> {
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, Operation::RevokeGrant)
            .await?;
        if grant_id_bytes(&req.grant_id).is_none() {
            return Err(KmsError::InvalidGrantId);
        }
        let key_id = &key.record.key_id;
        self.store
            .grant(key_id, &req.grant_id)
            .await
            .map_err(internal("reading a grant"))?
            .ok_or(KmsError::InvalidGrantId)?;
        if req.dry_run == Some(true) {
            return Err(KmsError::DryRun);
        }
        self.delete_grant(key_id, &req.grant_id).await?;
        Ok(RevokeGrantResponse::default())
    }

    /// Deletes a grant and forgets the key's cached grants (other nodes hear of it on
    /// the change feed).
    pub(crate) async fn delete_grant(&self, key_id: &str, grant_id: &str) -> Result<(), KmsError> {
        let deleted = self.store.delete_grant(key_id, grant_id).await;
        // Forget either way: a concurrent retire may have deleted it first.
        self.cache.drop_grants(key_id);
        match deleted {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(KmsError::InvalidGrantId),
            Err(e) => Err(internal("deleting a grant")(e)),
        }
    }
}
