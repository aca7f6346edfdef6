//! EnableKeyRotation: <https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html>
//!
//! The first automatic rotation is one period after the enable date
//! (RotationPeriodInDays: "the number of days after you enable automatic key rotation that
//! KMS will rotate your key material, and the number of days between each automatic
//! rotation thereafter"). Changing the period of an enabled key keeps its anchor (the
//! enable date or the last automatic rotation) and moves the next date accordingly.

use trent_store::RotationSchedule;
use trent_wire::{EnableKeyRotationRequest, EnableKeyRotationResponse, Operation};

use crate::error::internal;
use crate::ids::Forms;
use crate::keys::{is_replica, require_enabled};
use crate::optimistic::Invalidate;
use crate::rotation::{rotatable, DAY_MS, DEFAULT_PERIOD_DAYS};
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn enable_key_rotation(
        &self,
        caller: &Caller,
        req: EnableKeyRotationRequest,
    ) -> Result<EnableKeyRotationResponse, KmsError> {
        let key = self
            .resolve(
                caller,
                &req.key_id,
                Forms::KeyOnly,
                Operation::EnableKeyRotation,
            )
            .await?;
        require_not_replica(&key.record)?;
        if !rotatable(&key.record) {
            return Err(rotation_unsupported("enable automatic rotation of"));
        }
        self.set_rotation(&key.record.key_id, |current, now| {
            let period = req
                .rotation_period_in_days
                .or_else(|| current.filter(|s| s.enabled).map(|s| s.period_days))
                .unwrap_or(DEFAULT_PERIOD_DAYS);
            let next = match current {
                Some(RotationSchedule {
                    enabled: true,
                    period_days,
                    next_rotation_at: Some(next),
                    ..
                }) => next - i64::from(*period_days) * DAY_MS + i64::from(period) * DAY_MS,
                _ => now + i64::from(period) * DAY_MS,
            };
            (true, period, Some(next))
        })
        .await?;
        Ok(EnableKeyRotationResponse {})
    }

    /// Writes the key's rotation schedule as `change` makes it from the stored one (and
    /// the service's time), after checking the key is enabled; version-checked against
    /// concurrent changes of the key, retried on a conflict.
    pub(crate) async fn set_rotation<F>(&self, key_id: &str, change: F) -> Result<(), KmsError>
    where
        F: Fn(Option<&RotationSchedule>, i64) -> (bool, i32, Option<i64>) + Sync,
    {
        let change = &change;
        self.optimistic(
            key_id,
            "setting a rotation schedule",
            |attempt| async move {
                let Some(record) = self.stored_key(key_id).await? else {
                    return Err(KmsError::Internal.into());
                };
                require_enabled(&record)?;
                // The primary may have moved (UpdatePrimaryRegion) since the request resolved it.
                require_not_replica(&record)?;
                let current = self
                    .store
                    .rotation_schedule(key_id)
                    .await
                    .map_err(internal("reading a rotation schedule"))?;
                let (enabled, period_days, next_rotation_at) =
                    change(current.as_ref(), self.clock.now_millis());
                let schedule = RotationSchedule {
                    key_id: key_id.to_owned(),
                    enabled,
                    period_days,
                    next_rotation_at,
                };
                let written = self
                    .store
                    .set_rotation_schedule(record.version, &schedule)
                    .await;
                attempt.committed(written, |_| Invalidate::Keys(vec![key_id.to_owned()]))?;
                Ok(())
            },
        )
        .await
    }
}

/// Rotation of a multi-Region key is controlled on its primary key only ("To enable or
/// disable automatic rotation of a set of related multi-Region keys, set the property on
/// the primary key"; on-demand rotation is invoked "on the primary Region key").
pub(crate) fn require_not_replica(record: &trent_store::KeyRecord) -> Result<(), KmsError> {
    if !is_replica(record) {
        return Ok(());
    }
    let primary = crate::ids::key_arn(
        record.primary_region.as_deref().unwrap_or_default(),
        &record.account_id,
        crate::keys::public_key_id(record),
    );
    Err(KmsError::MultiRegionUnsupported {
        message: format!(
            "{} is a multi-Region replica key. Rotation of multi-Region keys is managed on the primary key {primary}.",
            record.arn
        ),
    })
}

/// AWS supports rotation of symmetric encryption keys only (EnableKeyRotation: "You
/// cannot enable automatic rotation of asymmetric KMS keys, HMAC KMS keys, KMS keys with
/// imported key material, or KMS keys in a custom key store").
pub(crate) fn rotation_unsupported(what: &str) -> KmsError {
    KmsError::RotationUnsupported {
        message: format!(
            "You cannot {what} asymmetric KMS keys, HMAC KMS keys, KMS keys with imported key material, or KMS keys in a custom key store."
        ),
    }
}
