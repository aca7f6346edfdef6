//! Key rotation: new symmetric material that becomes current while every earlier version
//! stays to decrypt what it encrypted. Shared by RotateKeyOnDemand and the automatic
//! rotation job, which rotates every enabled key whose rotation period has elapsed
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html>).

use trent_store::{
    KeyRecord, MaterialRecord, RotationRecord, RotationSchedule, StoreError, Transaction,
};
use trent_wire::{KeyState, OriginType, RotationType};

use crate::backend::KeyBackend;
use crate::error::internal;
use crate::jobs::{drain_due, ServiceEvent, DUE_BATCH};
use crate::keys::{hex_encode, is_primary};
use crate::keyspec::KeyKind;
use crate::optimistic::Invalidate;
use crate::{KeyService, KmsError};

pub(crate) const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// AWS's default rotation period.
pub(crate) const DEFAULT_PERIOD_DAYS: i32 = 365;
/// AWS's quota: "You can perform on-demand key rotation a maximum of 25 times per KMS key."
pub(crate) const ON_DEMAND_LIMIT: i64 = 25;
/// RotateKeyOnDemand is refused while an automatic rotation is due this soon
/// (ConflictException's description in the service model).
pub(crate) const CONFLICT_WINDOW_MS: i64 = 20 * 60 * 1000;

/// Whether a key can be rotated automatically: symmetric encryption keys with material KMS
/// made.
pub(crate) fn rotatable(record: &KeyRecord) -> bool {
    KeyKind::of(record.key_spec) == KeyKind::Symmetric && record.origin == OriginType::AwsKms
}

/// Whether a key can be rotated on demand (and list its rotations): symmetric encryption
/// keys, with material KMS made or imported ("When you initiate on-demand key rotation on a
/// symmetric encryption KMS key with imported key material, you must have already imported
/// new key material and that key material's state should be PENDING_ROTATION").
pub(crate) fn rotatable_on_demand(record: &KeyRecord) -> bool {
    KeyKind::of(record.key_spec) == KeyKind::Symmetric
        && (record.origin == OriginType::AwsKms || crate::import::is_external(record))
}

impl KeyService {
    /// Rotates `key_id` once; `true` if it did. `decide` sees the fresh record and schedule
    /// at each attempt and says whether to go on (`Ok(Some(next))`, `next` the schedule's
    /// new next rotation, if it moves), to skip (`Ok(None)`), or fails the rotation.
    pub(crate) async fn rotate<F>(
        &self,
        key_id: &str,
        rotation_type: RotationType,
        decide: F,
    ) -> Result<bool, KmsError>
    where
        F: Fn(&KeyRecord, Option<&RotationSchedule>, i64) -> Result<Option<Option<i64>>, KmsError>
            + Sync,
    {
        let decide = &decide;
        self.optimistic(key_id, "rotating a key", |attempt| async move {
            let Some(record) = self.stored_key(key_id).await? else {
                return Ok(false);
            };
            let schedule = self
                .store
                .rotation_schedule(key_id)
                .await
                .map_err(internal("reading a rotation schedule"))?;
            let now = self.clock.now_millis();
            let Some(next) = decide(&record, schedule.as_ref(), now)? else {
                return Ok(false);
            };
            if rotation_type == RotationType::OnDemand {
                let done = self
                    .store
                    .count_rotations(key_id, RotationType::OnDemand)
                    .await
                    .map_err(internal("counting rotations"))?;
                if done >= ON_DEMAND_LIMIT {
                    return Err(KmsError::OnDemandRotationLimit {
                        arn: record.arn.to_string(),
                    }
                    .into());
                }
            }
            // A multi-Region key rotates in every region at once: its primary (the only
            // region-key whose rotation can be asked for, and which holds the schedule)
            // and every replica get the same new material, with the same material id
            // (<https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-manage.html#multi-region-rotate>).
            let mut keys = vec![record.clone()];
            if let Some(mrk_id) = &record.mrk_id {
                if !is_primary(&record) {
                    // UpdatePrimaryRegion moved the primary since the caller looked.
                    return Ok(false);
                }
                keys.extend(
                    self.region_keys(mrk_id, &record.account_id)
                        .await?
                        .into_iter()
                        .filter(|k| k.key_id != record.key_id),
                );
            }
            let backend = self.local_backend();
            let material = backend.generate(KeyKind::Symmetric).await?;
            let material_id =
                hex_encode(&trent_crypto::random_array::<32>().map_err(internal("random"))?);
            // One key rotates alone (`rotate_key`); a multi-Region key's region-keys
            // together (`rotate_keys`), the primary's schedule moving with the first.
            let mut rotation = Transaction::new(if keys.len() == 1 {
                "rotate_key"
            } else {
                "rotate_keys"
            });
            for k in &keys {
                let sealed = backend.store_form(&k.arn, &material_id, &material)?;
                rotation.rotate_key(
                    k.version,
                    MaterialRecord {
                        key_id: k.key_id.clone(),
                        material_id: material_id.clone(),
                        created_at: now,
                        sealed,
                    },
                    RotationRecord {
                        key_id: k.key_id.clone(),
                        material_id: material_id.clone(),
                        rotated_at: now,
                        rotation_type,
                    },
                );
                if let (Some(next), true) = (next, k.key_id == record.key_id) {
                    rotation.move_next_rotation(&k.key_id, next);
                }
            }
            let written = self.store.transact(&rotation).await.map(|_| ());
            if let Err(StoreError::NotFound) = written {
                return Ok(false);
            }
            // The cached keys lack the new material: reload them on next use.
            attempt.committed(written, |()| {
                Invalidate::Keys(keys.iter().map(|k| k.key_id.clone()).collect())
            })?;
            for k in &keys {
                tracing::debug!(
                    key_id = %k.key_id,
                    rotation = rotation_type.as_str(),
                    "rotated a key"
                );
                self.emit(ServiceEvent::rotated(
                    k,
                    rotation_type.as_str(),
                    k.current_material_id.clone().unwrap_or_default(),
                    material_id.clone(),
                    now,
                ))
                .await;
            }
            Ok(true)
        })
        .await
    }

    /// One pass of the automatic rotation job: rotates every enabled key whose next
    /// rotation is due. Returns how many it rotated.
    pub(crate) async fn rotate_due_keys(&self) -> Result<usize, KmsError> {
        // Due schedules that are skipped (disabled keys) stay due (see `drain_due`).
        drain_due(
            "rotation",
            || async {
                self.store
                    .rotations_due(self.clock.now_millis(), DUE_BATCH)
                    .await
                    .map_err(internal("listing due rotations"))
            },
            |s: &RotationSchedule| s.key_id.clone(),
            |s: RotationSchedule| async move {
                let rotation = self.rotate(
                    &s.key_id,
                    RotationType::Automatic,
                    |record, schedule, now| {
                        let Some(schedule) = schedule.filter(|s| s.enabled) else {
                            return Ok(None);
                        };
                        let Some(next) = schedule.next_rotation_at.filter(|n| *n <= now) else {
                            return Ok(None);
                        };
                        // Disabled and pending-deletion keys are not rotated; their
                        // schedule waits ("When you re-enable the KMS key, rotation resumes").
                        if record.state != KeyState::Enabled || !rotatable(record) {
                            return Ok(None);
                        }
                        let period = i64::from(schedule.period_days) * DAY_MS;
                        // Every period after the last rotation; a key that missed rotations
                        // (disabled for a while) rotates now and every period from now.
                        let mut following = next + period;
                        if following <= now {
                            following = now + period;
                        }
                        Ok(Some(Some(following)))
                    },
                );
                self.as_job("RotateKey", rotation).await
            },
        )
        .await
    }
}
