//! RotateKeyOnDemand: <https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html>
//!
//! The rotation completes within the request (the new material is current when the
//! response leaves); it leaves the automatic schedule alone. AWS's quota of 25 on-demand
//! rotations per key is `LimitExceededException`; an automatic rotation due within 20
//! minutes is `ConflictException`.

use trent_wire::{RotateKeyOnDemandRequest, RotateKeyOnDemandResponse, RotationType};

use super::enable_key_rotation::{require_not_replica, rotation_unsupported};
use crate::ids::Forms;
use crate::keys::require_enabled;
use crate::rotation::{rotatable, CONFLICT_WINDOW_MS};
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn rotate_key_on_demand(
        &self,
        caller: &Caller,
        req: RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, "kms:RotateKeyOnDemand")
            .await?;
        require_not_replica(&key.record)?;
        if !rotatable(&key.record) {
            return Err(rotation_unsupported("perform on-demand rotation of"));
        }
        let rotated = self
            .rotate(
                &key.record.key_id,
                RotationType::OnDemand,
                |record, schedule, now| {
                    require_enabled(record)?;
                    if let Some(next) = schedule
                        .filter(|s| s.enabled)
                        .and_then(|s| s.next_rotation_at)
                    {
                        if next <= now + CONFLICT_WINDOW_MS {
                            return Err(KmsError::RotationConflict {
                                arn: record.arn.clone(),
                            });
                        }
                    }
                    Ok(Some(None))
                },
            )
            .await?;
        if !rotated {
            // Deleted between resolution and rotation.
            return Err(KmsError::KeyNotFound {
                arn: key.record.arn.clone(),
            });
        }
        Ok(RotateKeyOnDemandResponse {
            key_id: Some(crate::keys::public_key_id(&key.record).to_owned()),
        })
    }
}
