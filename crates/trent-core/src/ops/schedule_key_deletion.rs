//! ScheduleKeyDeletion: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html>

use trent_wire::{KeyState, ScheduleKeyDeletionRequest, ScheduleKeyDeletionResponse, Timestamp};

use crate::authz::Access;
use crate::ids::Forms;
use crate::keys::{require_manageable, STATE_PENDING_DELETION};
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
        let deletion_date = self.clock.now_millis() + i64::from(days) * DAY_MS;
        let stored = self
            .update_key(&key.record.key_id, |r| {
                require_manageable(r)?;
                r.state = STATE_PENDING_DELETION.to_owned();
                r.deletion_date = Some(deletion_date);
                r.pending_deletion_window_days = Some(days);
                Ok(())
            })
            .await?;
        Ok(ScheduleKeyDeletionResponse {
            key_id: Some(stored.arn),
            deletion_date: Some(Timestamp::from_millis(deletion_date)),
            key_state: Some(KeyState::PendingDeletion),
            pending_window_in_days: Some(days),
        })
    }
}
