//! Imported key material (migration 0006): the materials of keys with Origin EXTERNAL,
//! written together with their key in one version-checked transaction.

use super::{check_tags, column, decode_all, invalid, query, SqlStore};
use crate::sql::{Dialect, Row};
use crate::{Change, ImportedMaterialRecord, KeyRecord, StoreError};

const COLUMNS: &str = "key_id, material_id, seq, created_at, description, expiration_model, \
     valid_to, sealed, rotated_at, rotation_type";

fn from_row<R: Row>(row: &R) -> Result<ImportedMaterialRecord, StoreError> {
    Ok(ImportedMaterialRecord {
        key_id: column(row, "key_id")?,
        material_id: column(row, "material_id")?,
        seq: column(row, "seq")?,
        created_at: column(row, "created_at")?,
        description: column(row, "description")?,
        expiration_model: column(row, "expiration_model")?,
        valid_to: column(row, "valid_to")?,
        sealed: column(row, "sealed")?,
        rotated_at: column(row, "rotated_at")?,
        rotation_type: column(row, "rotation_type")?,
    })
}

impl<D: Dialect> SqlStore<D> {
    /// Inserts `m` as it is (its `seq` included): copying a deployment.
    async fn insert_verbatim(tx: &mut D::Tx, m: &ImportedMaterialRecord) -> Result<(), StoreError> {
        query(format!(
            "INSERT INTO imported_materials ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&m.key_id)
        .bind(&m.material_id)
        .bind(m.seq)
        .bind(m.created_at)
        .bind(&m.description)
        .bind(m.expiration_model)
        .bind(m.valid_to)
        .bind(&m.sealed)
        .bind(m.rotated_at)
        .bind(m.rotation_type)
        .execute(tx)
        .await
        .map_err(D::backend)?;
        Ok(())
    }

    /// Adds `m` to its key with the next `seq`, or updates the material of that id (its
    /// `seq` and `created_at` stay). The caller has written the key row first.
    async fn upsert_imported(tx: &mut D::Tx, m: &ImportedMaterialRecord) -> Result<(), StoreError> {
        query(format!(
            "INSERT INTO imported_materials ({COLUMNS}) \
             SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6, $7, $8, $9 \
             FROM imported_materials WHERE key_id = $1 \
             ON CONFLICT (key_id, material_id) DO UPDATE SET \
             description = excluded.description, expiration_model = excluded.expiration_model, \
             valid_to = excluded.valid_to, sealed = excluded.sealed, \
             rotated_at = excluded.rotated_at, rotation_type = excluded.rotation_type"
        ))
        .bind(&m.key_id)
        .bind(&m.material_id)
        .bind(m.created_at)
        .bind(&m.description)
        .bind(m.expiration_model)
        .bind(m.valid_to)
        .bind(&m.sealed)
        .bind(m.rotated_at)
        .bind(m.rotation_type)
        .execute(tx)
        .await
        .map_err(D::backend)?;
        Ok(())
    }

    pub(super) async fn import_materials_of(
        &self,
        key_id: &str,
    ) -> Result<Vec<ImportedMaterialRecord>, StoreError> {
        let rows = query(format!(
            "SELECT {COLUMNS} FROM imported_materials WHERE key_id = $1 ORDER BY seq"
        ))
        .bind(key_id)
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, from_row)
    }

    pub(super) async fn import_put(
        &self,
        key: &KeyRecord,
        m: &ImportedMaterialRecord,
    ) -> Result<KeyRecord, StoreError> {
        if m.key_id != key.key_id {
            return Err(invalid("an imported material belongs to another key"));
        }
        let mut tx = self.db.begin_write().await?;
        // The key row first: its version check (and, on PostgreSQL, its row lock)
        // serializes every writer of the key's materials, so the next `seq` below is safe.
        let stored = Self::update_key_in(&mut tx, key).await?;
        Self::upsert_imported(&mut tx, m).await?;
        Self::commit(tx).await?;
        Ok(stored)
    }

    pub(super) async fn import_put_many(
        &self,
        writes: &[(KeyRecord, Vec<ImportedMaterialRecord>)],
    ) -> Result<Vec<KeyRecord>, StoreError> {
        if writes
            .iter()
            .any(|(k, ms)| ms.iter().any(|m| m.key_id != k.key_id))
        {
            return Err(invalid("an imported material belongs to another key"));
        }
        let mut tx = self.db.begin_write().await?;
        let ids: Vec<&str> = writes.iter().map(|(k, _)| k.key_id.as_str()).collect();
        D::lock_keys(&mut tx, &ids).await?;
        let mut stored = Vec::with_capacity(writes.len());
        for (key, materials) in writes {
            stored.push(Self::update_key_in(&mut tx, key).await?);
            for m in materials {
                Self::upsert_imported(&mut tx, m).await?;
            }
        }
        Self::commit(tx).await?;
        Ok(stored)
    }

    pub(super) async fn import_create_replica(
        &self,
        source_key_id: &str,
        source_version: i64,
        key: &KeyRecord,
        materials: &[ImportedMaterialRecord],
    ) -> Result<i64, StoreError> {
        check_tags(&key.tags)?;
        if materials.iter().any(|m| m.key_id != key.key_id) {
            return Err(invalid("a replica's materials belong to another key"));
        }
        let mut tx = self.db.begin_write().await?;
        let version = Self::bump_version(&mut tx, source_key_id, source_version, None).await?;
        D::notify(&mut tx, &Change::Key(source_key_id.to_owned())).await?;
        Self::insert_key(&mut tx, key).await?;
        for (seq, m) in (1_i64..).zip(materials) {
            Self::insert_verbatim(&mut tx, &ImportedMaterialRecord { seq, ..m.clone() }).await?;
        }
        Self::commit(tx).await?;
        Ok(version)
    }

    pub(super) async fn import_expirations(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ImportedMaterialRecord>, StoreError> {
        let rows = query(format!(
            "SELECT {COLUMNS} FROM imported_materials \
             WHERE valid_to <= $1 AND sealed IS NOT NULL \
             ORDER BY valid_to, key_id, material_id LIMIT $2"
        ))
        .bind(now)
        .bind(i64::from(limit))
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, from_row)
    }

    /// Inserts a copied key's imported materials exactly as they were (`seq` included),
    /// for `migrate-store`.
    pub async fn import_imported_materials(
        &self,
        materials: &[ImportedMaterialRecord],
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        for m in materials {
            Self::insert_verbatim(&mut tx, m).await?;
        }
        Self::commit(tx).await
    }
}
