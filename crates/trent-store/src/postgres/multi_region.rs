//! Multi-Region keys on PostgreSQL (migration 0007): the writes that change several
//! region-keys of one multi-Region key in one transaction, announcing each key they
//! change on the change feed, as in the parent.
//!
//! A transaction that writes several key rows first locks all of them in one order (key
//! id, byte order), so that two such transactions on other nodes wait for each other
//! instead of deadlocking.

use sqlx::{Postgres, Transaction};

use super::time::{bump_version, delete_in, insert_rotation, rotate_in};
use super::{
    backend, check_tags, insert_key, insert_material, keys_from_rows, update_key_in, PostgresStore,
    KEY_COLUMNS,
};
use crate::{KeyRecord, MaterialRecord, RotationRecord, StoreError};

/// Locks the rows of these keys (those that exist) in key id order.
pub(super) async fn lock_keys(
    tx: &mut Transaction<'static, Postgres>,
    key_ids: &[&str],
) -> Result<(), StoreError> {
    let ids: Vec<String> = key_ids.iter().map(|k| (*k).to_owned()).collect();
    sqlx::query(
        "SELECT key_id FROM keys WHERE key_id = ANY($1) ORDER BY key_id COLLATE \"C\" \
         FOR UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

impl PostgresStore {
    pub(super) async fn mrk_keys(&self, mrk_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS}, t.tag_key, t.tag_value \
             FROM (SELECT * FROM keys WHERE mrk_id = $1) AS k \
             LEFT JOIN key_tags AS t ON t.key_id = k.key_id \
             ORDER BY k.region COLLATE \"C\", k.key_id COLLATE \"C\", t.position"
        ))
        .bind(mrk_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        keys_from_rows(&rows)
    }

    pub(super) async fn mrk_create_replica(
        &self,
        source_key_id: &str,
        source_version: i64,
        key: &KeyRecord,
        materials: &[MaterialRecord],
        rotations: &[RotationRecord],
    ) -> Result<i64, StoreError> {
        check_tags(&key.tags)?;
        if materials.is_empty() || materials.iter().any(|m| m.key_id != key.key_id) {
            return Err(super::invalid(
                "a replica's materials belong to another key",
            ));
        }
        if rotations.iter().any(|r| r.key_id != key.key_id) {
            return Err(super::invalid(
                "a replica's rotations belong to another key",
            ));
        }
        let mut tx = self.begin().await?;
        let version = bump_version(&mut tx, source_key_id, source_version, None).await?;
        super::notify(&mut tx, &crate::Change::Key(source_key_id.to_owned())).await?;
        insert_key(&mut tx, key).await?;
        for (seq, m) in (1_i64..).zip(materials) {
            insert_material(&mut tx, m, seq).await?;
        }
        for r in rotations {
            insert_rotation(&mut tx, r).await?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(version)
    }

    pub(super) async fn mrk_rotate(
        &self,
        rotations: &[(i64, MaterialRecord, RotationRecord)],
        next_rotation_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let ids: Vec<&str> = rotations
            .iter()
            .map(|(_, m, _)| m.key_id.as_str())
            .collect();
        lock_keys(&mut tx, &ids).await?;
        for (i, (version, material, rotation)) in rotations.iter().enumerate() {
            let next = if i == 0 { next_rotation_at } else { None };
            rotate_in(&mut tx, *version, material, rotation, next).await?;
        }
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn mrk_update_keys(
        &self,
        keys: &[KeyRecord],
        schedule_from: &str,
        schedule_to: &str,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        for k in keys {
            check_tags(&k.tags)?;
        }
        let mut tx = self.begin().await?;
        let ids: Vec<&str> = keys.iter().map(|k| k.key_id.as_str()).collect();
        lock_keys(&mut tx, &ids).await?;
        let mut stored = Vec::with_capacity(keys.len());
        for k in keys {
            stored.push(update_key_in(&mut tx, k).await?);
        }
        if schedule_from != schedule_to {
            sqlx::query("DELETE FROM key_rotation_schedules WHERE key_id = $1")
                .bind(schedule_to)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query("UPDATE key_rotation_schedules SET key_id = $1 WHERE key_id = $2")
                .bind(schedule_to)
                .bind(schedule_from)
                .execute(&mut *tx)
                .await
                .map_err(super::write_error)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(stored)
    }

    pub(super) async fn mrk_delete_and_update(
        &self,
        key_id: &str,
        key_version: i64,
        update: Option<&KeyRecord>,
    ) -> Result<(), StoreError> {
        if let Some(u) = update {
            check_tags(&u.tags)?;
        }
        let mut tx = self.begin().await?;
        let mut ids = vec![key_id];
        ids.extend(update.map(|u| u.key_id.as_str()));
        lock_keys(&mut tx, &ids).await?;
        delete_in(&mut tx, key_id, key_version).await?;
        if let Some(u) = update {
            update_key_in(&mut tx, u).await?;
        }
        tx.commit().await.map_err(backend)
    }
}
