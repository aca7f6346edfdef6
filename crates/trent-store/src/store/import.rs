//! Imported key material (migration 0006): the materials of keys with Origin EXTERNAL,
//! written together with their key in one version-checked transaction
//! ([`Write::PutImportedMaterial`](crate::Write::PutImportedMaterial)).

use super::{column, decode_all, query, SqlStore};
use crate::sql::{Dialect, Row};
use crate::{ImportedMaterialRecord, StoreError};

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
    /// `seq` and `created_at` stay). The caller has written the key row first (its
    /// version check, or its row lock on PostgreSQL, serializes every writer of the key's
    /// materials, so the next `seq` is safe).
    pub(super) async fn upsert_imported(
        tx: &mut D::Tx,
        m: &ImportedMaterialRecord,
    ) -> Result<(), StoreError> {
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
