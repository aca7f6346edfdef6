//! ScheduleKeyDeletion: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html>
//!
//! A multi-Region primary key that still has replicas is not deleted before them: "If you
//! schedule the deletion of a primary key with replicas, its key state changes to
//! PendingReplicaDeletion ... When the last of its replicas keys is deleted (not just
//! scheduled), the key state of the primary key changes to PendingDeletion and its waiting
//! period (PendingWindowInDays) begins" (the deletion job does that, see `deletion.rs`). A
//! replica's deletion is that of any key.

use trent_store::StoreError;
use trent_wire::{KeyState, ScheduleKeyDeletionRequest, ScheduleKeyDeletionResponse, Timestamp};

use crate::authz::Access;
use crate::error::internal;
use crate::ids::Forms;
use crate::keys::{
    conflict_backoff, is_primary, require_manageable, STATE_PENDING_DELETION,
    STATE_PENDING_REPLICA_DELETION,
};
use crate::{Caller, KeyService, KmsError};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl KeyService {
    pub async fn schedule_key_deletion(
        &self,
        caller: &Caller,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        let days = req.pending_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&days) {
            // AWS's answer, as quoted from the service (Skyscanner/kms-issuer#8).
            return Err(KmsError::Validation {
                message: "PendingWindowInDays must be between 7 and 30".into(),
            });
        }
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Access::new("kms:ScheduleKeyDeletion").with(
                    "kms:ScheduleKeyDeletionPendingWindowInDays",
                    i64::from(days),
                ),
            )
            .await?;
        let key_id = key.record.key_id.clone();
        let _local = self.update_lock(&key_id).lock().await;
        for attempt in 0..16 {
            let Some(mut record) = self
                .store
                .key(&key_id)
                .await
                .map_err(internal("reading a key"))?
            else {
                return Err(KmsError::Internal);
            };
            require_manageable(&record)?;
            // Read with the record: a replica created meanwhile bumps the primary's version,
            // so this decision is never written against a stale set of replicas.
            let has_replicas = match &record.mrk_id {
                Some(mrk_id) if is_primary(&record) => self
                    .region_keys(mrk_id, &record.account_id)
                    .await?
                    .iter()
                    .any(|k| k.key_id != record.key_id),
                _ => false,
            };
            let deletion_date = self.clock.now_millis() + i64::from(days) * DAY_MS;
            if has_replicas {
                record.state = STATE_PENDING_REPLICA_DELETION.to_owned();
                record.deletion_date = None;
            } else {
                record.state = STATE_PENDING_DELETION.to_owned();
                record.deletion_date = Some(deletion_date);
            }
            record.pending_deletion_window_days = Some(days);
            let epoch = self.cache.epoch();
            match self.store.update_key(&record).await {
                Ok(stored) => {
                    self.cache.update_record(stored.clone(), epoch);
                    return Ok(ScheduleKeyDeletionResponse {
                        key_id: Some(stored.arn),
                        // "If the KMS key is a multi-Region primary key with replica keys,
                        // this field does not appear."
                        deletion_date: stored.deletion_date.map(Timestamp::from_millis),
                        key_state: Some(if has_replicas {
                            KeyState::PendingReplicaDeletion
                        } else {
                            KeyState::PendingDeletion
                        }),
                        pending_window_in_days: Some(days),
                    });
                }
                Err(StoreError::Conflict) => conflict_backoff(attempt).await,
                Err(e) => return Err(internal("updating a key")(e)),
            }
        }
        Err(KmsError::Internal)
    }
}
