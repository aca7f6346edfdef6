//! GetKeyRotationStatus: <https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyRotationStatus.html>
//!
//! "Pending deletion: While a KMS key is pending deletion, its key rotation status is false
//! and KMS does not rotate the key material. If you cancel the deletion, the original key
//! rotation status returns": the stored schedule is kept and only reported as false.
//! Keys that cannot rotate (asymmetric, HMAC) report false, as AWS now answers for them.
//! Rotations complete within the request, so no on-demand rotation is ever in progress
//! (OnDemandRotationStartDate is never present).

use trent_wire::{GetKeyRotationStatusRequest, GetKeyRotationStatusResponse, Operation, Timestamp};

use crate::error::internal;
use crate::ids::Forms;
use crate::ids::StorageKeyId;
use crate::key_state::KeyStateRules;
use crate::rotation::rotatable;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn get_key_rotation_status(
        &self,
        caller: &Caller,
        req: GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Operation::GetKeyRotationStatus,
            )
            .await?;
        let record = &key.record;
        let pending = record.state.is_pending_deletion();
        // A multi-Region key's rotation status is shared: its primary holds the schedule.
        let schedule_key = match (&record.mrk_id, &record.primary_region) {
            (Some(mrk_id), Some(primary)) => {
                StorageKeyId::region_key(mrk_id, primary).into_string()
            }
            _ => record.key_id.clone(),
        };
        let schedule = if rotatable(record) && !pending {
            self.store
                .rotation_schedule(&schedule_key)
                .await
                .map_err(internal("reading a rotation schedule"))?
                .filter(|s| s.enabled)
        } else {
            None
        };
        Ok(GetKeyRotationStatusResponse {
            key_rotation_enabled: Some(schedule.is_some()),
            key_id: Some(crate::keys::public_key_id(record).to_owned()),
            rotation_period_in_days: schedule.as_ref().map(|s| s.period_days),
            next_rotation_date: schedule
                .as_ref()
                .and_then(|s| s.next_rotation_at)
                .map(Timestamp::from_millis),
            on_demand_rotation_start_date: None,
        })
    }
}
