//! Keys over time on SQLite: rotation schedules and history, deletion, last usage
//! (migration 0005). Every write is one `BEGIN IMMEDIATE` transaction, as in the parent.

use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, Transaction};

use super::{backend, column, write_error, SqliteStore};
use crate::{
    KeyUsageRecord, MaterialHistoryEntry, MaterialRecord, RotationRecord, RotationSchedule,
    StoreError,
};

/// Bumps the key's version iff it is `version` (optionally making `material_id` current);
/// `Conflict` if it changed, `NotFound` if it does not exist. Returns the new version.
pub(super) async fn bump_version(
    tx: &mut Transaction<'static, Sqlite>,
    key_id: &str,
    version: i64,
    current_material_id: Option<&str>,
) -> Result<i64, StoreError> {
    let bumped: Option<i64> = sqlx::query_scalar(
        "UPDATE keys SET version = version + 1, \
         current_material_id = COALESCE(?1, current_material_id) \
         WHERE key_id = ?2 AND version = ?3 RETURNING version",
    )
    .bind(current_material_id)
    .bind(key_id)
    .bind(version)
    .fetch_optional(&mut **tx)
    .await
    .map_err(backend)?;
    if let Some(v) = bumped {
        return Ok(v);
    }
    let exists = sqlx::query("SELECT 1 FROM keys WHERE key_id = ?1")
        .bind(key_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(backend)?
        .is_some();
    Err(if exists {
        StoreError::Conflict
    } else {
        StoreError::NotFound
    })
}

fn schedule_from_row(row: &SqliteRow) -> Result<RotationSchedule, StoreError> {
    let key_id: String = column(row, "key_id")?;
    let enabled = match column::<i64>(row, "enabled")? {
        0 => false,
        1 => true,
        other => {
            return Err(StoreError::Corrupt {
                what: format!("key {key_id}: rotation enabled is {other}"),
            })
        }
    };
    let period_days =
        i32::try_from(column::<i64>(row, "period_days")?).map_err(|_| StoreError::Corrupt {
            what: format!("key {key_id}: rotation period out of range"),
        })?;
    Ok(RotationSchedule {
        next_rotation_at: column(row, "next_rotation_at")?,
        key_id,
        enabled,
        period_days,
    })
}

fn usage_from_row(row: &SqliteRow) -> Result<KeyUsageRecord, StoreError> {
    Ok(KeyUsageRecord {
        key_id: column(row, "key_id")?,
        operation: column(row, "operation")?,
        used_at: column(row, "used_at")?,
        event_id: column(row, "event_id")?,
        request_id: column(row, "request_id")?,
    })
}

const SCHEDULE_COLUMNS: &str = "key_id, enabled, period_days, next_rotation_at";

impl SqliteStore {
    pub(super) async fn time_rotation_schedule(
        &self,
        key_id: &str,
    ) -> Result<Option<RotationSchedule>, StoreError> {
        sqlx::query(&format!(
            "SELECT {SCHEDULE_COLUMNS} FROM key_rotation_schedules WHERE key_id = ?1"
        ))
        .bind(key_id)
        .fetch_optional(&self.readers)
        .await
        .map_err(backend)?
        .as_ref()
        .map(schedule_from_row)
        .transpose()
    }

    pub(super) async fn time_set_rotation_schedule(
        &self,
        key_version: i64,
        s: &RotationSchedule,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let version = match bump_version(&mut tx, &s.key_id, key_version, None).await {
            Ok(v) => v,
            Err(e) => {
                tx.rollback().await.map_err(backend)?;
                return Err(e);
            }
        };
        sqlx::query(&format!(
            "INSERT INTO key_rotation_schedules ({SCHEDULE_COLUMNS}) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (key_id) DO UPDATE SET enabled = excluded.enabled, \
             period_days = excluded.period_days, next_rotation_at = excluded.next_rotation_at"
        ))
        .bind(&s.key_id)
        .bind(i64::from(s.enabled))
        .bind(i64::from(s.period_days))
        .bind(s.next_rotation_at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(version)
    }

    pub(super) async fn time_rotate_key(
        &self,
        key_version: i64,
        material: &MaterialRecord,
        rotation: &RotationRecord,
        next_rotation_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let version = rotate_in(&mut tx, key_version, material, rotation, next_rotation_at).await?;
        tx.commit().await.map_err(backend)?;
        Ok(version)
    }

    pub(super) async fn time_material_history(
        &self,
        key_id: &str,
        rotations_only: bool,
        after_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MaterialHistoryEntry>, StoreError> {
        let only = if rotations_only {
            "AND r.rotation_type IS NOT NULL"
        } else {
            ""
        };
        sqlx::query(&format!(
            "SELECT m.seq, m.material_id, m.created_at, r.rotated_at, r.rotation_type \
             FROM key_materials AS m LEFT JOIN key_rotations AS r \
             ON r.key_id = m.key_id AND r.material_id = m.material_id \
             WHERE m.key_id = ?1 AND m.seq > ?2 {only} ORDER BY m.seq LIMIT ?3"
        ))
        .bind(key_id)
        .bind(after_seq.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| {
            Ok(MaterialHistoryEntry {
                seq: column(row, "seq")?,
                material_id: column(row, "material_id")?,
                created_at: column(row, "created_at")?,
                rotated_at: column(row, "rotated_at")?,
                rotation_type: column(row, "rotation_type")?,
            })
        })
        .collect()
    }

    pub(super) async fn time_count_rotations(
        &self,
        key_id: &str,
        rotation_type: &str,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM key_rotations WHERE key_id = ?1 AND rotation_type = ?2",
        )
        .bind(key_id)
        .bind(rotation_type)
        .fetch_one(&self.readers)
        .await
        .map_err(backend)
    }

    pub(super) async fn time_rotations_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<RotationSchedule>, StoreError> {
        sqlx::query(&format!(
            "SELECT {SCHEDULE_COLUMNS} FROM key_rotation_schedules \
             WHERE enabled = 1 AND next_rotation_at <= ?1 \
             ORDER BY next_rotation_at, key_id LIMIT ?2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?
        .iter()
        .map(schedule_from_row)
        .collect()
    }

    pub(super) async fn time_deletions_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT key_id FROM keys WHERE deletion_date <= ?1 \
             ORDER BY deletion_date, key_id LIMIT ?2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.readers)
        .await
        .map_err(backend)
    }

    pub(super) async fn time_delete_key(
        &self,
        key_id: &str,
        key_version: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        delete_in(&mut tx, key_id, key_version).await?;
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn time_record_key_usage(
        &self,
        usage: &[KeyUsageRecord],
    ) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for u in usage {
            sqlx::query(
                "INSERT INTO key_last_usage (key_id, operation, used_at, event_id, request_id) \
                 SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM keys WHERE key_id = ?1) \
                 ON CONFLICT (key_id) DO UPDATE SET operation = excluded.operation, \
                 used_at = excluded.used_at, event_id = excluded.event_id, \
                 request_id = excluded.request_id \
                 WHERE excluded.used_at >= key_last_usage.used_at",
            )
            .bind(&u.key_id)
            .bind(&u.operation)
            .bind(u.used_at)
            .bind(&u.event_id)
            .bind(&u.request_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    pub(super) async fn time_key_last_usage(
        &self,
        key_id: &str,
    ) -> Result<Option<KeyUsageRecord>, StoreError> {
        sqlx::query(
            "SELECT key_id, operation, used_at, event_id, request_id FROM key_last_usage \
             WHERE key_id = ?1",
        )
        .bind(key_id)
        .fetch_optional(&self.readers)
        .await
        .map_err(backend)?
        .as_ref()
        .map(usage_from_row)
        .transpose()
    }
}

impl SqliteStore {
    /// A key's rotation schedule, rotation history and last usage (for copying a
    /// deployment).
    pub async fn key_time_records(
        &self,
        key_id: &str,
    ) -> Result<
        (
            Option<RotationSchedule>,
            Vec<RotationRecord>,
            Option<KeyUsageRecord>,
        ),
        StoreError,
    > {
        let rotations = sqlx::query(
            "SELECT r.key_id, r.material_id, r.rotated_at, r.rotation_type \
             FROM key_rotations AS r JOIN key_materials AS m \
             ON m.key_id = r.key_id AND m.material_id = r.material_id \
             WHERE r.key_id = ?1 ORDER BY m.seq",
        )
        .bind(key_id)
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| {
            Ok(RotationRecord {
                key_id: column(row, "key_id")?,
                material_id: column(row, "material_id")?,
                rotated_at: column(row, "rotated_at")?,
                rotation_type: column(row, "rotation_type")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((
            self.time_rotation_schedule(key_id).await?,
            rotations,
            self.time_key_last_usage(key_id).await?,
        ))
    }
}

/// `rotate_key` inside a transaction (nothing is written on an error: the caller drops
/// the transaction). Returns the key's new version.
pub(super) async fn rotate_in(
    tx: &mut Transaction<'static, Sqlite>,
    key_version: i64,
    material: &MaterialRecord,
    rotation: &RotationRecord,
    next_rotation_at: Option<i64>,
) -> Result<i64, StoreError> {
    if rotation.key_id != material.key_id || rotation.material_id != material.material_id {
        return Err(super::invalid("a rotation names another material"));
    }
    let version = bump_version(
        tx,
        &material.key_id,
        key_version,
        Some(&material.material_id),
    )
    .await?;
    sqlx::query(
        "INSERT INTO key_materials (key_id, material_id, seq, created_at, sealed) \
         SELECT ?1, ?2, COALESCE(MAX(seq), 0) + 1, ?3, ?4 \
         FROM key_materials WHERE key_id = ?1",
    )
    .bind(&material.key_id)
    .bind(&material.material_id)
    .bind(material.created_at)
    .bind(&material.sealed)
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    insert_rotation(tx, rotation).await?;
    if let Some(next) = next_rotation_at {
        sqlx::query("UPDATE key_rotation_schedules SET next_rotation_at = ?1 WHERE key_id = ?2")
            .bind(next)
            .bind(&material.key_id)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
    }
    Ok(version)
}

/// Records a completed rotation (its material must exist).
pub(super) async fn insert_rotation(
    tx: &mut Transaction<'static, Sqlite>,
    rotation: &RotationRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO key_rotations (key_id, material_id, rotated_at, rotation_type) \
         VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(&rotation.key_id)
    .bind(&rotation.material_id)
    .bind(rotation.rotated_at)
    .bind(&rotation.rotation_type)
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// `delete_key` inside a transaction (nothing is written on an error).
pub(super) async fn delete_in(
    tx: &mut Transaction<'static, Sqlite>,
    key_id: &str,
    key_version: i64,
) -> Result<(), StoreError> {
    let deleted = sqlx::query("DELETE FROM keys WHERE key_id = ?1 AND version = ?2")
        .bind(key_id)
        .bind(key_version)
        .execute(&mut **tx)
        .await
        .map_err(backend)?
        .rows_affected();
    if deleted == 0 {
        let exists = sqlx::query("SELECT 1 FROM keys WHERE key_id = ?1")
            .bind(key_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(backend)?
            .is_some();
        return Err(if exists {
            StoreError::Conflict
        } else {
            StoreError::NotFound
        });
    }
    // Tags, materials, the rotation schedule and history go with the key row (ON
    // DELETE CASCADE). The rest names the key without a foreign key.
    // Grants go with the key too (ON DELETE CASCADE); deleted explicitly all the same.
    for sql in [
        "DELETE FROM grants WHERE key_id = ?1",
        "DELETE FROM aliases WHERE target_key_id = ?1",
        "DELETE FROM key_last_usage WHERE key_id = ?1",
    ] {
        sqlx::query(sql)
            .bind(key_id)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
    }
    Ok(())
}
