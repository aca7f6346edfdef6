//! Changing the root key (`trent root-key migrate`): listing every secret sealed under it
//! ([`Store::sealed_secrets`](crate::Store::sealed_secrets)) and replacing them, a batch
//! per database transaction, each compared with the bytes read
//! ([`Store::reseal`](crate::Store::reseal)).

use super::{column, decode_all, query, OnCommit, SqlStore};
use crate::sql::{Dialect, Row};
use crate::{Resealed, SealedKind, SealedSecret, StoreError};

fn material_from_row<R: Row>(kind: SealedKind, row: &R) -> Result<SealedSecret, StoreError> {
    Ok(SealedSecret {
        kind,
        owner: column(row, "key_id")?,
        item: column(row, "material_id")?,
        key_arn: column(row, "arn")?,
        sealed: column(row, "sealed")?,
    })
}

fn access_key_from_row<R: Row>(row: &R) -> Result<SealedSecret, StoreError> {
    Ok(SealedSecret {
        kind: SealedKind::AccessKey,
        owner: column(row, "access_key_id")?,
        item: String::new(),
        key_arn: String::new(),
        sealed: column(row, "sealed_secret")?,
    })
}

impl<D: Dialect> SqlStore<D> {
    pub(super) async fn list_sealed(
        &self,
        kind: SealedKind,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<SealedSecret>, StoreError> {
        let c = D::COLLATE;
        let limit = i64::from(limit);
        // `$2`, `$3` only with `after` (placeholders are numbered as bound).
        let owner = after.map(|a| a.0);
        let item = after.map(|a| a.1);
        match kind {
            SealedKind::KeyMaterial | SealedKind::ImportedMaterial => {
                let table = if kind == SealedKind::KeyMaterial {
                    "key_materials"
                } else {
                    "imported_materials"
                };
                let after = if after.is_some() {
                    format!("AND (m.key_id{c} > $2 OR (m.key_id = $2 AND m.material_id{c} > $3))")
                } else {
                    String::new()
                };
                // Keys of a custom key store hold no sealed material: what their rows keep
                // is a reference into the key store, not sealed under the root key.
                let rows = query(format!(
                    "SELECT m.key_id, m.material_id, k.arn, m.sealed FROM {table} m \
                     JOIN keys k ON k.key_id = m.key_id \
                     WHERE m.sealed IS NOT NULL AND k.custom_key_store_id IS NULL {after} \
                     ORDER BY m.key_id{c}, m.material_id{c} LIMIT $1"
                ))
                .bind(limit)
                .bind_some(owner)
                .bind_some(item)
                .read_all(self.db.reader())
                .await
                .map_err(D::backend)?;
                decode_all(&rows, |r| material_from_row(kind, r))
            }
            SealedKind::AccessKey => {
                let after = if after.is_some() {
                    format!("WHERE access_key_id{c} > $2")
                } else {
                    String::new()
                };
                let rows = query(format!(
                    "SELECT access_key_id, sealed_secret FROM access_keys {after} \
                     ORDER BY access_key_id{c} LIMIT $1"
                ))
                .bind(limit)
                .bind_some(owner)
                .read_all(self.db.reader())
                .await
                .map_err(D::backend)?;
                decode_all(&rows, access_key_from_row)
            }
            SealedKind::CustomKeyStoreSecret => {
                let after = if after.is_some() {
                    format!("AND custom_key_store_id{c} > $2")
                } else {
                    String::new()
                };
                let rows = query(format!(
                    "SELECT custom_key_store_id, sealed_secret FROM custom_key_stores \
                     WHERE sealed_secret IS NOT NULL {after} \
                     ORDER BY custom_key_store_id{c} LIMIT $1"
                ))
                .bind(limit)
                .bind_some(owner)
                .read_all(self.db.reader())
                .await
                .map_err(D::backend)?;
                decode_all(&rows, |row| {
                    Ok(SealedSecret {
                        kind: SealedKind::CustomKeyStoreSecret,
                        owner: column(row, "custom_key_store_id")?,
                        item: String::new(),
                        key_arn: String::new(),
                        sealed: column(row, "sealed_secret")?,
                    })
                })
            }
            SealedKind::Meta => Ok(Vec::new()),
        }
    }

    pub(super) async fn reseal_batch(&self, batch: &[Resealed]) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write().await?;
        let mut on_commit = OnCommit::default();
        // Nothing is written on an error: the transaction is dropped, which rolls it back.
        for r in batch {
            let old = &r.old;
            let q = match old.kind {
                SealedKind::KeyMaterial => query(
                    "UPDATE key_materials SET sealed = $1 \
                     WHERE key_id = $2 AND material_id = $3 AND sealed = $4",
                )
                .bind(&r.sealed)
                .bind(&old.owner)
                .bind(&old.item)
                .bind(&old.sealed),
                SealedKind::ImportedMaterial => query(
                    "UPDATE imported_materials SET sealed = $1 \
                     WHERE key_id = $2 AND material_id = $3 AND sealed = $4",
                )
                .bind(&r.sealed)
                .bind(&old.owner)
                .bind(&old.item)
                .bind(&old.sealed),
                SealedKind::AccessKey => query(
                    "UPDATE access_keys SET sealed_secret = $1 \
                     WHERE access_key_id = $2 AND sealed_secret = $3",
                )
                .bind(&r.sealed)
                .bind(&old.owner)
                .bind(&old.sealed),
                SealedKind::CustomKeyStoreSecret => query(
                    "UPDATE custom_key_stores SET sealed_secret = $1 \
                     WHERE custom_key_store_id = $2 AND sealed_secret = $3",
                )
                .bind(&r.sealed)
                .bind(&old.owner)
                .bind(&old.sealed),
                SealedKind::Meta => {
                    query("UPDATE meta SET value = $1 WHERE name = $2 AND value = $3")
                        .bind(&r.sealed)
                        .bind(&old.owner)
                        .bind(&old.sealed)
                }
            };
            let changed = q.execute(&mut tx).await.map_err(D::backend)?;
            if changed != 1 {
                return Err(StoreError::Conflict);
            }
            if matches!(
                old.kind,
                SealedKind::KeyMaterial | SealedKind::ImportedMaterial
            ) {
                on_commit.key(&old.owner);
            }
        }
        Self::commit_announcing(tx, on_commit).await
    }
}
