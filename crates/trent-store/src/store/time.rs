//! Keys over time (migration 0005): rotation schedules and history, deletion, last usage.
//! Every write transaction announces the key it changed, as in the parent.

use super::{alias_change, column, decode_all, query, OnCommit, SqlStore};
use crate::sql::{Dialect, Row};
use crate::{
    KeyManagerType, KeyUsageRecord, MaterialHistoryEntry, RotationRecord, RotationSchedule,
    RotationType, StoreError,
};

const SCHEDULE_COLUMNS: &str = "key_id, enabled, period_days, next_rotation_at";

fn schedule_from_row<R: Row>(row: &R) -> Result<RotationSchedule, StoreError> {
    let key_id: String = column(row, "key_id")?;
    let enabled = match column::<i64, _>(row, "enabled")? {
        0 => false,
        1 => true,
        other => {
            return Err(StoreError::Corrupt {
                what: format!("key {key_id}: rotation enabled is {other}"),
            })
        }
    };
    let period_days =
        i32::try_from(column::<i64, _>(row, "period_days")?).map_err(|_| StoreError::Corrupt {
            what: format!("key {key_id}: rotation period out of range"),
        })?;
    Ok(RotationSchedule {
        next_rotation_at: column(row, "next_rotation_at")?,
        key_id,
        enabled,
        period_days,
    })
}

fn usage_from_row<R: Row>(row: &R) -> Result<KeyUsageRecord, StoreError> {
    Ok(KeyUsageRecord {
        key_id: column(row, "key_id")?,
        operation: column(row, "operation")?,
        used_at: column(row, "used_at")?,
        event_id: column(row, "event_id")?,
        request_id: column(row, "request_id")?,
    })
}

fn rotation_from_row<R: Row>(row: &R) -> Result<RotationRecord, StoreError> {
    Ok(RotationRecord {
        key_id: column(row, "key_id")?,
        material_id: column(row, "material_id")?,
        rotated_at: column(row, "rotated_at")?,
        rotation_type: column(row, "rotation_type")?,
    })
}

impl<D: Dialect> SqlStore<D> {
    /// Bumps the key's version iff it is `version` (optionally making `material_id`
    /// current); `Conflict` if it changed, `NotFound` if it does not exist. Returns the new
    /// version.
    pub(super) async fn bump_version(
        tx: &mut D::Tx,
        key_id: &str,
        version: i64,
        current_material_id: Option<&str>,
    ) -> Result<i64, StoreError> {
        let bumped = query(
            "UPDATE keys SET version = version + 1, \
             current_material_id = COALESCE($1, current_material_id) \
             WHERE key_id = $2 AND version = $3 RETURNING version",
        )
        .bind(current_material_id)
        .bind(key_id)
        .bind(version)
        .fetch_optional(tx)
        .await
        .map_err(D::backend)?;
        match bumped {
            Some(row) => column(&row, "version"),
            None => Err(Self::stale_or_missing(tx, key_id).await),
        }
    }

    /// Records a completed rotation (its material must exist).
    pub(super) async fn insert_rotation(
        tx: &mut D::Tx,
        rotation: &RotationRecord,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO key_rotations (key_id, material_id, rotated_at, rotation_type) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&rotation.key_id)
        .bind(&rotation.material_id)
        .bind(rotation.rotated_at)
        .bind(rotation.rotation_type)
        .execute(tx)
        .await
        .map_err(Self::write_error)?;
        Ok(())
    }

    /// `delete_key` inside a transaction (nothing is written on an error), announcing the
    /// key and its aliases on commit.
    pub(super) async fn delete_in(
        tx: &mut D::Tx,
        key_id: &str,
        key_version: i64,
        on_commit: &mut OnCommit,
    ) -> Result<(), StoreError> {
        let deleted = query(
            "DELETE FROM keys WHERE key_id = $1 AND version = $2 \
             RETURNING account_id, region, key_manager",
        )
        .bind(key_id)
        .bind(key_version)
        .fetch_optional(tx)
        .await
        .map_err(D::backend)?;
        let Some(deleted) = deleted else {
            return Err(Self::stale_or_missing(tx, key_id).await);
        };
        let key_manager: KeyManagerType = column(&deleted, "key_manager")?;
        if key_manager == KeyManagerType::Customer {
            let account_id: String = column(&deleted, "account_id")?;
            let region: String = column(&deleted, "region")?;
            Self::count_customer_key(tx, &account_id, &region, key_id, -1).await?;
        }
        // Tags, materials, the rotation schedule and history, and grants go with the key
        // row (ON DELETE CASCADE); grants are deleted explicitly all the same. The rest
        // names the key without a foreign key.
        query("DELETE FROM grants WHERE key_id = $1")
            .bind(key_id)
            .execute(tx)
            .await
            .map_err(D::backend)?;
        let aliases = query(
            "DELETE FROM aliases WHERE target_key_id = $1 \
             RETURNING account_id, region, alias_name",
        )
        .bind(key_id)
        .fetch_all(tx)
        .await
        .map_err(D::backend)?;
        query("DELETE FROM key_last_usage WHERE key_id = $1")
            .bind(key_id)
            .execute(tx)
            .await
            .map_err(D::backend)?;
        on_commit.key(key_id);
        for row in &aliases {
            on_commit.announce(alias_change(
                &column::<String, _>(row, "account_id")?,
                &column::<String, _>(row, "region")?,
                &column::<String, _>(row, "alias_name")?,
            ));
        }
        Ok(())
    }

    pub(super) async fn time_rotation_schedule(
        &self,
        key_id: &str,
    ) -> Result<Option<RotationSchedule>, StoreError> {
        query(format!(
            "SELECT {SCHEDULE_COLUMNS} FROM key_rotation_schedules WHERE key_id = $1"
        ))
        .bind(key_id)
        .read_optional(self.db.reader())
        .await
        .map_err(D::backend)?
        .as_ref()
        .map(schedule_from_row)
        .transpose()
    }

    /// Writes the key's rotation schedule in `tx` (replacing any).
    pub(super) async fn put_schedule_in(
        tx: &mut D::Tx,
        s: &RotationSchedule,
    ) -> Result<(), StoreError> {
        query(format!(
            "INSERT INTO key_rotation_schedules ({SCHEDULE_COLUMNS}) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key_id) DO UPDATE SET enabled = excluded.enabled, \
             period_days = excluded.period_days, next_rotation_at = excluded.next_rotation_at"
        ))
        .bind(&s.key_id)
        .bind(i64::from(s.enabled))
        .bind(i64::from(s.period_days))
        .bind(s.next_rotation_at)
        .execute(tx)
        .await
        .map_err(D::backend)?;
        Ok(())
    }

    pub(super) async fn time_set_rotation_schedule(
        &self,
        key_version: i64,
        s: &RotationSchedule,
    ) -> Result<i64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let version = match Self::bump_version(&mut tx, &s.key_id, key_version, None).await {
            Ok(v) => v,
            Err(e) => {
                Self::rollback(tx).await?;
                return Err(e);
            }
        };
        Self::put_schedule_in(&mut tx, s).await?;
        let mut on_commit = OnCommit::default();
        on_commit.key(&s.key_id);
        Self::commit_announcing(tx, on_commit).await?;
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
        let rows = query(format!(
            "SELECT m.seq, m.material_id, m.created_at, r.rotated_at, r.rotation_type \
             FROM key_materials AS m LEFT JOIN key_rotations AS r \
             ON r.key_id = m.key_id AND r.material_id = m.material_id \
             WHERE m.key_id = $1 AND m.seq > $2 {only} ORDER BY m.seq LIMIT $3"
        ))
        .bind(key_id)
        .bind(after_seq.unwrap_or(0))
        .bind(i64::from(limit))
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, |row| {
            Ok(MaterialHistoryEntry {
                seq: column(row, "seq")?,
                material_id: column(row, "material_id")?,
                created_at: column(row, "created_at")?,
                rotated_at: column(row, "rotated_at")?,
                rotation_type: column(row, "rotation_type")?,
            })
        })
    }

    pub(super) async fn time_count_rotations(
        &self,
        key_id: &str,
        rotation_type: RotationType,
    ) -> Result<i64, StoreError> {
        let row = query(
            "SELECT COUNT(*) AS n FROM key_rotations WHERE key_id = $1 AND rotation_type = $2",
        )
        .bind(key_id)
        .bind(rotation_type)
        .read_one(self.db.reader())
        .await
        .map_err(D::backend)?;
        column(&row, "n")
    }

    pub(super) async fn time_rotations_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<RotationSchedule>, StoreError> {
        let rows = query(format!(
            "SELECT {SCHEDULE_COLUMNS} FROM key_rotation_schedules \
             WHERE enabled = 1 AND next_rotation_at <= $1 \
             ORDER BY next_rotation_at, key_id LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, schedule_from_row)
    }

    pub(super) async fn time_deletions_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let rows = query(
            "SELECT key_id FROM keys WHERE deletion_date <= $1 \
             ORDER BY deletion_date, key_id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, |r| column(r, "key_id"))
    }

    pub(super) async fn time_record_key_usage(
        &self,
        usage: &[KeyUsageRecord],
    ) -> Result<(), StoreError> {
        if usage.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        for u in usage {
            query(
                "INSERT INTO key_last_usage (key_id, operation, used_at, event_id, request_id) \
                 SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM keys WHERE key_id = $1) \
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
            .execute(&mut tx)
            .await
            .map_err(D::backend)?;
        }
        Self::commit(tx).await
    }

    pub(super) async fn time_key_last_usage(
        &self,
        key_id: &str,
    ) -> Result<Option<KeyUsageRecord>, StoreError> {
        query(
            "SELECT key_id, operation, used_at, event_id, request_id FROM key_last_usage \
             WHERE key_id = $1",
        )
        .bind(key_id)
        .read_optional(self.db.reader())
        .await
        .map_err(D::backend)?
        .as_ref()
        .map(usage_from_row)
        .transpose()
    }

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
        let rows = query(
            "SELECT r.key_id, r.material_id, r.rotated_at, r.rotation_type \
             FROM key_rotations AS r JOIN key_materials AS m \
             ON m.key_id = r.key_id AND m.material_id = r.material_id \
             WHERE r.key_id = $1 ORDER BY m.seq",
        )
        .bind(key_id)
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        Ok((
            self.time_rotation_schedule(key_id).await?,
            decode_all(&rows, rotation_from_row)?,
            self.time_key_last_usage(key_id).await?,
        ))
    }

    /// Writes a copied key's rotation schedule, rotation history and last usage as they
    /// are, without touching the key's version (for copying a deployment: the key and its
    /// materials must already be there).
    pub async fn import_key_time_records(
        &self,
        schedule: Option<&RotationSchedule>,
        rotations: &[RotationRecord],
        usage: Option<&KeyUsageRecord>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(s) = schedule {
            query(format!(
                "INSERT INTO key_rotation_schedules ({SCHEDULE_COLUMNS}) VALUES ($1, $2, $3, $4)"
            ))
            .bind(&s.key_id)
            .bind(i64::from(s.enabled))
            .bind(i64::from(s.period_days))
            .bind(s.next_rotation_at)
            .execute(&mut tx)
            .await
            .map_err(Self::write_error)?;
        }
        for r in rotations {
            Self::insert_rotation(&mut tx, r).await?;
        }
        Self::commit(tx).await?;
        if let Some(u) = usage {
            self.time_record_key_usage(std::slice::from_ref(u)).await?;
        }
        Ok(())
    }
}
