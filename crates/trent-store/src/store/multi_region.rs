//! Multi-Region keys (migration 0007): the writes that change several region-keys of one
//! multi-Region key in one transaction, announcing each key they change, as in the parent.
//!
//! A transaction that writes several key rows first locks all of them in one order
//! ([`Dialect::lock_keys`]), so that two such transactions on other nodes wait for each
//! other instead of deadlocking.

use super::{check_tags, invalid, keys_from_rows, query, SqlStore, KEY_COLUMNS};
use crate::sql::Dialect;
use crate::{Change, KeyRecord, MaterialRecord, RotationRecord, StoreError};

impl<D: Dialect> SqlStore<D> {
    pub(super) async fn mrk_keys(&self, mrk_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        let c = D::COLLATE;
        let rows = query(format!(
            "SELECT {KEY_COLUMNS}, t.tag_key, t.tag_value \
             FROM (SELECT * FROM keys WHERE mrk_id = $1) AS k \
             LEFT JOIN key_tags AS t ON t.key_id = k.key_id \
             ORDER BY k.region{c}, k.key_id{c}, t.position"
        ))
        .bind(mrk_id)
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
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
            return Err(invalid("a replica's materials belong to another key"));
        }
        if rotations.iter().any(|r| r.key_id != key.key_id) {
            return Err(invalid("a replica's rotations belong to another key"));
        }
        let mut tx = self.db.begin_write().await?;
        let version = Self::bump_version(&mut tx, source_key_id, source_version, None).await?;
        D::notify(&mut tx, &Change::Key(source_key_id.to_owned())).await?;
        Self::insert_key(&mut tx, key).await?;
        for (seq, m) in (1_i64..).zip(materials) {
            Self::insert_material(&mut tx, m, seq).await?;
        }
        for r in rotations {
            Self::insert_rotation(&mut tx, r).await?;
        }
        Self::commit(tx).await?;
        Ok(version)
    }

    pub(super) async fn mrk_rotate(
        &self,
        rotations: &[(i64, MaterialRecord, RotationRecord)],
        next_rotation_at: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let ids: Vec<&str> = rotations
            .iter()
            .map(|(_, m, _)| m.key_id.as_str())
            .collect();
        D::lock_keys(&mut tx, &ids).await?;
        for (i, (version, material, rotation)) in rotations.iter().enumerate() {
            let next = if i == 0 { next_rotation_at } else { None };
            Self::rotate_in(&mut tx, *version, material, rotation, next).await?;
        }
        Self::commit(tx).await
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
        let mut tx = self.db.begin_write().await?;
        let ids: Vec<&str> = keys.iter().map(|k| k.key_id.as_str()).collect();
        D::lock_keys(&mut tx, &ids).await?;
        let mut stored = Vec::with_capacity(keys.len());
        for k in keys {
            stored.push(Self::update_key_in(&mut tx, k).await?);
        }
        if schedule_from != schedule_to {
            query("DELETE FROM key_rotation_schedules WHERE key_id = $1")
                .bind(schedule_to)
                .execute(&mut tx)
                .await
                .map_err(D::backend)?;
            query("UPDATE key_rotation_schedules SET key_id = $1 WHERE key_id = $2")
                .bind(schedule_to)
                .bind(schedule_from)
                .execute(&mut tx)
                .await
                .map_err(Self::write_error)?;
        }
        Self::commit(tx).await?;
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
        let mut tx = self.db.begin_write().await?;
        let mut ids = vec![key_id];
        ids.extend(update.map(|u| u.key_id.as_str()));
        D::lock_keys(&mut tx, &ids).await?;
        Self::delete_in(&mut tx, key_id, key_version).await?;
        if let Some(u) = update {
            Self::update_key_in(&mut tx, u).await?;
        }
        Self::commit(tx).await
    }
}
