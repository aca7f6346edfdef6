//! Scheduled deletion that deletes: when a key's waiting period ends (its DeletionDate, by
//! the service's clock, never a millisecond before), the deletion job destroys its
//! material and the key irrecoverably, with its aliases, as AWS does
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html>).

use trent_store::{KeyRecord, StoreError, Transaction};
use trent_wire::KeyState;

use crate::error::internal;
use crate::jobs::{drain_due, ServiceEvent, DUE_BATCH};
use crate::keys::is_primary;
use crate::optimistic::Invalidate;
use crate::rotation::DAY_MS;
use crate::{KeyService, KmsError};

impl KeyService {
    /// One pass of the deletion job: deletes every key whose deletion date has passed.
    /// Returns how many it deleted.
    pub(crate) async fn delete_due_keys(&self) -> Result<usize, KmsError> {
        drain_due(
            "deletion",
            || async {
                self.store
                    .deletions_due(self.clock.now_millis(), DUE_BATCH)
                    .await
                    .map_err(internal("listing due deletions"))
            },
            |key_id: &String| key_id.clone(),
            |key_id: String| async move {
                self.as_job("DeleteKey", self.delete_if_due(&key_id))
                    .await
            },
        )
        .await
    }

    /// Deletes the key iff it is still pending deletion and its date has passed (a
    /// concurrent CancelKeyDeletion wins: the delete is version-checked).
    async fn delete_if_due(&self, key_id: &str) -> Result<bool, KmsError> {
        self.optimistic(key_id, "deleting a key", |attempt| async move {
            let Some(record) = self.stored_key(key_id).await? else {
                return Ok(false);
            };
            let now = self.clock.now_millis();
            if record.state != KeyState::PendingDeletion
                || record.deletion_date.is_none_or(|d| d > now)
            {
                return Ok(false);
            }
            // The last replica of a primary waiting for it (PendingReplicaDeletion): the
            // primary's own waiting period starts now, in the same transaction
            // (<https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-delete.html>).
            let promoted = self.primary_waiting_for(&record, now).await?;
            // A key of a custom key store: its object in the token goes once it is deleted.
            let token_object = match &record.custom_key_store_id {
                Some(_) => self
                    .store
                    .materials(key_id)
                    .await
                    .map_err(internal("reading key material"))?
                    .first()
                    .and_then(|m| crate::backend::token::object_id(&m.sealed)),
                None => None,
            };
            let deleted = match &promoted {
                None => self.store.delete_key(key_id, record.version).await,
                Some(primary) => {
                    let mut delete = Transaction::new("delete_key_and_update");
                    delete
                        .delete_key(key_id, record.version)
                        .update_key(primary.clone());
                    self.store.transact(&delete).await.map(|_| ())
                }
            };
            if let Err(StoreError::NotFound) = deleted {
                return Ok(false);
            }
            // Its aliases went with it: forget every cached alias and key entry.
            attempt.committed(deleted, |_| Invalidate::All)?;
            if let Some(primary) = &promoted {
                tracing::info!(
                    key_arn = %primary.arn,
                    "the last replica of a primary key was deleted: its waiting period begins"
                );
            }
            self.usage.forget(key_id);
            tracing::info!(key_arn = %record.arn, "deleted a key at the end of its waiting period");
            self.destroy_token_object(&record, token_object).await;
            self.emit(ServiceEvent::DeleteKey {
                account_id: record.account_id.to_string(),
                region: record.region.to_string(),
                key_arn: record.arn.to_string(),
                at: now,
            })
            .await;
            Ok(true)
        })
        .await
    }

    /// If `record` is the last replica of a multi-Region primary key in
    /// `PendingReplicaDeletion`, that primary as it must become when `record` is deleted
    /// at `now`: `PendingDeletion`, deleted its own waiting period from now.
    async fn primary_waiting_for(
        &self,
        record: &KeyRecord,
        now: i64,
    ) -> Result<Option<KeyRecord>, KmsError> {
        let Some(mrk_id) = record.mrk_id.as_deref().filter(|_| !is_primary(record)) else {
            return Ok(None);
        };
        let keys = self.region_keys(mrk_id, &record.account_id).await?;
        let Some(primary) = keys.iter().find(|k| is_primary(k)) else {
            return Ok(None);
        };
        let others = keys
            .iter()
            .filter(|k| k.key_id != primary.key_id && k.key_id != record.key_id)
            .count();
        if primary.state != KeyState::PendingReplicaDeletion || others > 0 {
            return Ok(None);
        }
        let days = primary.pending_deletion_window_days.unwrap_or(30);
        Ok(Some(KeyRecord {
            state: KeyState::PendingDeletion,
            deletion_date: Some(now + i64::from(days) * DAY_MS),
            ..primary.clone()
        }))
    }
}
