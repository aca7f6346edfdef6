//! DisableKeyRotation: <https://docs.aws.amazon.com/kms/latest/APIReference/API_DisableKeyRotation.html>
//! The period is kept (as the schedule's), the next rotation dropped.

use trent_wire::{DisableKeyRotationRequest, DisableKeyRotationResponse, Operation};

use super::enable_key_rotation::{require_not_replica, rotation_unsupported};
use crate::ids::Forms;
use crate::rotation::{rotatable, DEFAULT_PERIOD_DAYS};
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn disable_key_rotation(
        &self,
        caller: &Caller,
        req: DisableKeyRotationRequest,
    ) -> Result<DisableKeyRotationResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Operation::DisableKeyRotation,
            )
            .await?;
        require_not_replica(&key.record)?;
        if !rotatable(&key.record) {
            return Err(rotation_unsupported("disable automatic rotation of"));
        }
        self.set_rotation(&key.record.key_id, |current, _| {
            (
                false,
                current.map_or(DEFAULT_PERIOD_DAYS, |s| s.period_days),
                None,
            )
        })
        .await?;
        Ok(DisableKeyRotationResponse {})
    }
}
