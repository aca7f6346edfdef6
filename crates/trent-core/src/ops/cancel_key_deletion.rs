//! CancelKeyDeletion: <https://docs.aws.amazon.com/kms/latest/APIReference/API_CancelKeyDeletion.html>
//! The key returns to `Disabled`, as AWS documents; a key with imported key material whose
//! material was deleted or expired meanwhile returns to `PendingImport` (the key state
//! table: "PendingImport" applies whenever key material is missing).

use trent_store::{KeyRecord, StoreError};
use trent_wire::{CancelKeyDeletionRequest, CancelKeyDeletionResponse};

use crate::error::internal;
use crate::ids::Forms;
use crate::import::{is_external, state_after};
use crate::keys::{
    conflict_backoff, STATE_DISABLED, STATE_PENDING_DELETION, STATE_PENDING_REPLICA_DELETION,
};
use crate::{Caller, KeyService, KmsError};

const MAX_ATTEMPTS: usize = 16;

impl KeyService {
    pub async fn cancel_key_deletion(
        &self,
        caller: &Caller,
        req: CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, "kms:CancelKeyDeletion")
            .await?;
        let stored = if is_external(&key.record) {
            self.cancel_imported(&key.record.key_id).await?
        } else {
            self.update_key(&key.record.key_id, |r| {
                cancel(r)?;
                r.state = STATE_DISABLED.to_owned();
                Ok(())
            })
            .await?
        };
        Ok(CancelKeyDeletionResponse {
            key_id: Some(stored.arn),
        })
    }
}

impl KeyService {
    /// CancelKeyDeletion of a key with imported key material: `Disabled`, or
    /// `PendingImport` if material is missing. The decision rests on the materials read
    /// after the key and is written under the key's version, which every import, deletion
    /// and expiry of material bumps: a change in between fails the write, and the whole
    /// decision is made again.
    async fn cancel_imported(&self, key_id: &str) -> Result<KeyRecord, KmsError> {
        let _local = self.update_lock(key_id).lock().await;
        for attempt in 0..MAX_ATTEMPTS {
            let epoch = self.cache.epoch();
            let Some(mut record) = self
                .store
                .key(key_id)
                .await
                .map_err(internal("reading a key"))?
            else {
                return Err(KmsError::Internal);
            };
            let materials = self
                .store
                .imported_materials(key_id)
                .await
                .map_err(internal("reading imported key material"))?;
            cancel(&mut record)?;
            record.state = STATE_DISABLED.to_owned();
            record.state = state_after(&record, &materials);
            match self.store.update_key(&record).await {
                Ok(stored) => {
                    self.cache.update_record(stored.clone(), epoch);
                    return Ok(stored);
                }
                Err(StoreError::Conflict) => conflict_backoff(attempt).await,
                Err(e) => return Err(internal("updating a key")(e)),
            }
        }
        tracing::error!(
            key_id,
            "giving up a cancellation after repeated concurrent modifications"
        );
        Err(KmsError::Internal)
    }
}

/// Takes a key out of its deletion schedule; the caller sets the state it returns to.
fn cancel(r: &mut KeyRecord) -> Result<(), KmsError> {
    // A primary waiting for its replicas' deletion can be cancelled too.
    if r.state != STATE_PENDING_DELETION && r.state != STATE_PENDING_REPLICA_DELETION {
        return Err(KmsError::NotPendingDeletion { arn: r.arn.clone() });
    }
    r.deletion_date = None;
    r.pending_deletion_window_days = None;
    Ok(())
}
