//! ScheduleKeyDeletion: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html>
//!
//! A multi-Region primary key that still has replicas is not deleted before them: "If you
//! schedule the deletion of a primary key with replicas, its key state changes to
//! PendingReplicaDeletion ... When the last of its replicas keys is deleted (not just
//! scheduled), the key state of the primary key changes to PendingDeletion and its waiting
//! period (PendingWindowInDays) begins" (the deletion job does that, see `deletion.rs`). A
//! replica's deletion is that of any key.

use trent_wire::{
    KeyState, Operation, ScheduleKeyDeletionRequest, ScheduleKeyDeletionResponse, Timestamp,
};

use crate::authz::Access;
use crate::ids::Forms;
use crate::keys::{is_primary, require_manageable};
use crate::rotation::DAY_MS;
use crate::{Caller, KeyService, KmsError};

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
                Access::of(Operation::ScheduleKeyDeletion).with(
                    "kms:ScheduleKeyDeletionPendingWindowInDays",
                    i64::from(days),
                ),
            )
            .await?;
        // The replicas are read with the record, under its version: a replica created
        // meanwhile bumps the primary's version, so this decision is never written against
        // a stale set of replicas (see update_key_reading).
        let (mrk_id, account) = (key.record.mrk_id.as_deref(), key.record.account_id.as_str());
        let stored = self
            .update_key_reading(
                &key.record.key_id,
                || async {
                    match mrk_id {
                        Some(mrk_id) => self.region_keys(mrk_id, account).await,
                        None => Ok(Vec::new()),
                    }
                },
                |r, region_keys| {
                    require_manageable(r)?;
                    let has_replicas =
                        is_primary(r) && region_keys.iter().any(|k| k.key_id != r.key_id);
                    if has_replicas {
                        r.state = KeyState::PendingReplicaDeletion;
                        r.deletion_date = None;
                    } else {
                        r.state = KeyState::PendingDeletion;
                        r.deletion_date = Some(self.clock.now_millis() + i64::from(days) * DAY_MS);
                    }
                    r.pending_deletion_window_days = Some(days);
                    Ok(())
                },
            )
            .await?;
        Ok(ScheduleKeyDeletionResponse {
            key_id: Some(stored.arn.to_string()),
            // "If the KMS key is a multi-Region primary key with replica keys, this field
            // does not appear."
            deletion_date: stored.deletion_date.map(Timestamp::from_millis),
            key_state: Some(if stored.state == KeyState::PendingReplicaDeletion {
                KeyState::PendingReplicaDeletion
            } else {
                KeyState::PendingDeletion
            }),
            pending_window_in_days: Some(days),
        })
    }
}
