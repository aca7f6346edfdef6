//! UpdatePrimaryRegion: <https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdatePrimaryRegion.html>
//!
//! The replica in `PrimaryRegion` becomes the primary key and the primary a replica; every
//! region-key's `MultiRegionConfiguration` follows, and the automatic rotation schedule
//! (a shared property, held by the primary) moves to the new primary. All of it is one
//! store transaction, so Trent has no transient `Updating` state: both keys keep their
//! state throughout. "Both the primary key and the replica key must be in the Enabled key
//! state when the operation starts"
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-update.html>).
//!
//! Permissions: `kms:UpdatePrimaryRegion` on the current primary key and on the replica,
//! each by its own key policy.

use trent_store::{Committed, Transaction};
use trent_wire::{Operation, Region, UpdatePrimaryRegionRequest, UpdatePrimaryRegionResponse};

use super::replicate_key::{check_region, require_primary};
use crate::authz::Access;
use crate::error::internal;
use crate::ids::{key_arn, Forms, StorageKeyId};
use crate::keys::{public_key_id, require_enabled};
use crate::optimistic::Invalidate;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn update_primary_region(
        &self,
        caller: &Caller,
        req: UpdatePrimaryRegionRequest,
    ) -> Result<UpdatePrimaryRegionResponse, KmsError> {
        let new_region = req.primary_region.as_str();
        check_region(new_region, "primaryRegion")?;
        let access =
            || Access::of(Operation::UpdatePrimaryRegion).with("kms:PrimaryRegion", new_region);
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, access())
            .await?;
        let primary = &key.record;
        require_primary(primary, "update the primary Region of")?;
        require_enabled(primary)?;
        if new_region == primary.region {
            // Already the primary region: nothing to change.
            return Ok(UpdatePrimaryRegionResponse {});
        }
        let mrk_id = public_key_id(primary).to_owned();
        let new_primary =
            Region::parse(new_region).map_err(internal("naming the new primary region"))?;
        let new_primary = &new_primary;
        let replica_id = StorageKeyId::region_key(&mrk_id, new_region).into_string();
        let not_found = || KmsError::KeyNotFound {
            arn: key_arn(new_region, &primary.account_id, &mrk_id),
        };
        let replica = self.load(&replica_id).await?.ok_or_else(not_found)?;
        if replica.record.account_id != primary.account_id {
            return Err(not_found());
        }
        self.authorize(caller, &replica, &access(), None).await?;
        require_enabled(&replica.record)?;

        let (mrk_id, replica_id) = (mrk_id.as_str(), replica_id.as_str());
        let what = "updating the primary region";
        self.optimistic(&primary.key_id, what, |attempt| async move {
            let keys = self.region_keys(mrk_id, &primary.account_id).await?;
            let old = keys
                .iter()
                .find(|k| k.key_id == primary.key_id)
                .ok_or_else(|| KmsError::KeyNotFound {
                    arn: primary.arn.to_string(),
                })?;
            require_primary(old, "update the primary Region of")?;
            require_enabled(old)?;
            let new = keys
                .iter()
                .find(|k| k.key_id == replica_id)
                .ok_or_else(not_found)?;
            require_enabled(new)?;
            let updated: Vec<_> = keys
                .iter()
                .map(|k| trent_store::KeyRecord {
                    primary_region: Some(new_primary.clone()),
                    ..k.clone()
                })
                .collect();
            // Every region-key names the new primary region, and the rotation schedule
            // (the primary's) moves to the new primary, replacing any it had.
            let mut update = Transaction::new("update_keys");
            for k in updated {
                update.update_key(k);
            }
            update.move_rotation_schedule(&old.key_id, &new.key_id);
            let written = self.store.transact(&update).await.map(Committed::into_keys);
            attempt.committed(written, |stored| {
                Invalidate::Keys(stored.iter().map(|k| k.key_id.clone()).collect())
            })?;
            Ok(UpdatePrimaryRegionResponse {})
        })
        .await
    }
}
