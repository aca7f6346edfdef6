//! RotateKeyOnDemand: <https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html>
//!
//! The rotation completes within the request (the new material is current when the
//! response leaves); it leaves the automatic schedule alone. The response's KeyId is the
//! key ARN. AWS's quota of 25 on-demand rotations per key ("You can perform on-demand key
//! rotation a maximum of 25 times per KMS key",
//! <https://docs.aws.amazon.com/kms/latest/developerguide/rotating-keys-on-demand.html>;
//! it was 10) is `LimitExceededException`; an automatic rotation due within 20 minutes is
//! `ConflictException`.

use trent_store::{Committed, StoreError};
use trent_wire::{
    KeyMaterialState, Operation, RotateKeyOnDemandRequest, RotateKeyOnDemandResponse, RotationType,
};

use super::enable_key_rotation::{require_not_replica, rotation_unsupported};
use crate::ids::Forms;
use crate::import::{awaiting_replicas, is_external, material_state, merged, state_after};
use crate::jobs::ServiceEvent;
use crate::keys::require_enabled;
use crate::keyspec::KeyKind;
use crate::optimistic::Invalidate;
use crate::rotation::{rotatable_on_demand, CONFLICT_WINDOW_MS, ON_DEMAND_LIMIT};
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn rotate_key_on_demand(
        &self,
        caller: &Caller,
        req: RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Operation::RotateKeyOnDemand,
            )
            .await?;
        // AWS looks at the key state before the key's type: a disabled key is
        // DisabledException whatever it is.
        require_enabled(&key.record)?;
        require_not_replica(&key.record)?;
        if KeyKind::of(key.record.key_spec) != KeyKind::Symmetric {
            // Asymmetric and HMAC keys: UnsupportedOperationException without a message,
            // as AWS answers (LocalStack's rotate_key_on_demand, recorded against AWS).
            return Err(KmsError::OnDemandRotationKeyType);
        }
        if !rotatable_on_demand(&key.record) {
            return Err(rotation_unsupported("perform on-demand rotation of"));
        }
        if is_external(&key.record) && key.record.mrk_id.is_some() {
            return self.rotate_imported_mrk(&key.record).await;
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
                                arn: record.arn.to_string(),
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
                arn: key.record.arn.to_string(),
            });
        }
        Ok(RotateKeyOnDemandResponse {
            key_id: Some(key.record.arn.to_string()),
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
                let Some(pending) = materials
                    .iter()
                    .find(|m| material_state(m, current) == KeyMaterialState::PendingRotation)
                else {
                    return Err(KmsError::NoMaterialPendingRotation {
                        arn: rec.arn.to_string(),
                    });
                };
                let done = materials
                    .iter()
                    .filter(|m| m.rotation_type == Some(RotationType::OnDemand))
                    .count();
                if done >= ON_DEMAND_LIMIT as usize {
                    return Err(KmsError::OnDemandRotationLimit {
                        arn: rec.arn.to_string(),
                    });
                }
                previous = rec.current_material_id.clone();
                rotated_to = Some(pending.material_id.clone());
                let mut m = pending.clone();
                m.rotated_at = Some(now);
                m.rotation_type = Some(RotationType::OnDemand);
                Ok(Some((vec![m], Some(pending.material_id.clone()))))
            })
            .await?;
        let Some(stored) = stored else {
            return Err(KmsError::KeyNotFound {
                arn: arn.to_owned(),
            });
        };
        self.emit(ServiceEvent::rotated(
            &stored,
            RotationType::OnDemand.as_str(),
            previous.unwrap_or_default(),
            rotated_to.unwrap_or_default(),
            self.clock.now_millis(),
        ))
        .await;
        Ok(RotateKeyOnDemandResponse {
            key_id: Some(stored.arn.to_string()),
        })
    }
}

impl KeyService {
    /// On-demand rotation of a multi-Region key with imported key material, on its
    /// primary: the pending material must be imported into every replica first ("You must
    /// do this for every replica Region key before you can perform the RotateKeyOnDemand
    /// operation on the primary Region key", ImportKeyMaterial); then it becomes current
    /// in every region-key in one store transaction, so that no region encrypts under a
    /// material another region lacks.
    async fn rotate_imported_mrk(
        &self,
        primary: &trent_store::KeyRecord,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        let what = "rotating imported key material";
        self.optimistic(&primary.key_id, what, |attempt| async move {
            let region_keys = self.region_materials(primary).await?;
            let Some((fresh, _)) = region_keys.iter().find(|(k, _)| k.key_id == primary.key_id)
            else {
                return Err(KmsError::KeyNotFound {
                    arn: primary.arn.to_string(),
                }
                .into());
            };
            // A replica now if the primary moved meanwhile (UpdatePrimaryRegion).
            require_not_replica(fresh)?;
            // `region_materials` puts the primary first.
            let (rec, materials) = &region_keys[0];
            require_enabled(rec)?;
            let current = rec
                .current_material_id
                .as_deref()
                .and_then(|c| materials.iter().find(|m| m.material_id == c));
            let Some(pending) = materials
                .iter()
                .find(|m| material_state(m, current) == KeyMaterialState::PendingRotation)
            else {
                return Err(KmsError::NoMaterialPendingRotation {
                    arn: rec.arn.to_string(),
                }
                .into());
            };
            if awaiting_replicas(&region_keys).contains(&pending.material_id) {
                let missing: Vec<&str> = region_keys[1..]
                    .iter()
                    .filter(|(_, theirs)| {
                        !theirs
                            .iter()
                            .any(|t| t.material_id == pending.material_id && t.sealed.is_some())
                    })
                    .map(|(k, _)| k.region.as_str())
                    .collect();
                return Err(KmsError::Validation {
                    message: format!(
                        "Key material {} of {} is in the PENDING_MULTI_REGION_IMPORT_AND_ROTATION state. Import the same key material (ImportType EXISTING_KEY_MATERIAL) into the replica keys in {} before rotating the primary key on demand.",
                        pending.material_id,
                        rec.arn,
                        missing.join(", ")
                    ),
                }
                .into());
            }
            let done = materials
                .iter()
                .filter(|m| m.rotation_type == Some(RotationType::OnDemand))
                .count();
            if done >= ON_DEMAND_LIMIT as usize {
                return Err(KmsError::OnDemandRotationLimit {
                    arn: rec.arn.to_string(),
                }
                .into());
            }
            let now = self.clock.now_millis();
            let rotated_to = pending.material_id.clone();
            let writes: Vec<_> = region_keys
                .iter()
                .map(|(k, theirs)| {
                    let mine = theirs
                        .iter()
                        .find(|t| t.material_id == rotated_to)
                        .cloned()
                        .ok_or(KmsError::Internal)?;
                    let m = trent_store::ImportedMaterialRecord {
                        rotated_at: Some(now),
                        rotation_type: Some(RotationType::OnDemand),
                        ..mine
                    };
                    let mut key = k.clone();
                    key.current_material_id = Some(rotated_to.clone());
                    key.state = state_after(&key, &merged(theirs, std::slice::from_ref(&m)));
                    Ok((key, vec![m]))
                })
                .collect::<Result<_, KmsError>>()?;
            let written = self
                .store
                .transact(&crate::import::put_imported_materials(writes))
                .await
                .map(Committed::into_keys);
            if let Err(StoreError::NotFound) = written {
                return Err(KmsError::KeyNotFound {
                    arn: primary.arn.to_string(),
                }
                .into());
            }
            let stored = attempt.committed(written, |stored| {
                Invalidate::Keys(stored.iter().map(|k| k.key_id.clone()).collect())
            })?;
            for ((before, _), k) in region_keys.iter().zip(&stored) {
                self.emit(ServiceEvent::rotated(
                    k,
                    RotationType::OnDemand.as_str(),
                    before.current_material_id.clone().unwrap_or_default(),
                    rotated_to.clone(),
                    now,
                ))
                .await;
            }
            Ok(RotateKeyOnDemandResponse {
                key_id: Some(primary.arn.to_string()),
            })
        })
        .await
    }
}
