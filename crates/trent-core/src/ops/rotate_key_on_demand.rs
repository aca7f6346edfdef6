//! RotateKeyOnDemand: <https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html>
//!
//! The rotation completes within the request (the new material is current when the
//! response leaves); it leaves the automatic schedule alone. AWS's quota of 25 on-demand
//! rotations per key is `LimitExceededException`; an automatic rotation due within 20
//! minutes is `ConflictException`.

use trent_wire::{
    KeyMaterialState, RotateKeyOnDemandRequest, RotateKeyOnDemandResponse, RotationType,
};

use super::enable_key_rotation::{require_not_replica, rotation_unsupported};
use crate::ids::Forms;
use crate::import::{is_external, material_state};
use crate::jobs::ServiceEvent;
use crate::keys::require_enabled;
use crate::rotation::{rotatable_on_demand, CONFLICT_WINDOW_MS, ON_DEMAND_LIMIT};
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
        if !rotatable_on_demand(&key.record) {
            return Err(rotation_unsupported("perform on-demand rotation of"));
        }
        if is_external(&key.record) {
            return self
                .rotate_imported(&key.record.key_id, &key.record.arn)
                .await;
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

impl KeyService {
    /// On-demand rotation of a key with imported key material: the material imported as
    /// NEW_KEY_MATERIAL (PENDING_ROTATION) becomes current; the earlier ones stay to
    /// decrypt what they encrypted.
    async fn rotate_imported(
        &self,
        key_id: &str,
        arn: &str,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        let mut previous = None;
        let mut rotated_to = None;
        let stored = self
            .write_imported(key_id, |rec, materials, now| {
                require_enabled(rec)?;
                let current = rec
                    .current_material_id
                    .as_deref()
                    .and_then(|c| materials.iter().find(|m| m.material_id == c));
                let Some(pending) = materials.iter().find(|m| {
                    material_state(m, current) == KeyMaterialState::PendingRotation
                }) else {
                    return Err(KmsError::Validation {
                        message: format!(
                            "{} has no key material in the PENDING_ROTATION state. Import new key material (ImportType NEW_KEY_MATERIAL) before rotating it on demand.",
                            rec.arn
                        ),
                    });
                };
                let done = materials
                    .iter()
                    .filter(|m| m.rotation_type.as_deref() == Some(RotationType::OnDemand.as_str()))
                    .count();
                if done >= ON_DEMAND_LIMIT as usize {
                    return Err(KmsError::OnDemandRotationLimit {
                        arn: rec.arn.clone(),
                        limit: ON_DEMAND_LIMIT,
                    });
                }
                previous = rec.current_material_id.clone();
                rotated_to = Some(pending.material_id.clone());
                let mut m = pending.clone();
                m.rotated_at = Some(now);
                m.rotation_type = Some(RotationType::OnDemand.as_str().to_owned());
                Ok(Some((m, Some(pending.material_id.clone()))))
            })
            .await?;
        let Some(stored) = stored else {
            return Err(KmsError::KeyNotFound {
                arn: arn.to_owned(),
            });
        };
        self.emit(ServiceEvent::RotateKey {
            account_id: stored.account_id.clone(),
            region: stored.region.clone(),
            key_arn: stored.arn.clone(),
            key_id: stored.key_id.clone(),
            key_origin: stored.origin.clone(),
            rotation_type: RotationType::OnDemand.as_str(),
            previous_material_id: previous.unwrap_or_default(),
            current_material_id: rotated_to.unwrap_or_default(),
            at: self.clock.now_millis(),
        })
        .await;
        Ok(RotateKeyOnDemandResponse {
            key_id: Some(stored.key_id),
        })
    }
}
