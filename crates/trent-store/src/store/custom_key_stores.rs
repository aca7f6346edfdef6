//! Custom key stores (migration 0009). Every write announces [`Change::All`]: whether a
//! store is connected decides whether its keys can be used, on every node, and such
//! writes are rare (an operator's connect, disconnect or update).

use super::{column, decode_all, query, OnCommit, SqlStore};
use crate::sql::{Dialect, Row};
use crate::{Change, CustomKeyStoreRecord, StoreError};

/// The columns, in the order [`from_row`] reads them and the INSERT binds them.
const COLUMNS: &str = "custom_key_store_id, account_id, region, name, store_type, \
     cloud_hsm_cluster_id, trust_anchor_certificate, sealed_secret, xks_proxy_uri_endpoint, \
     xks_proxy_uri_path, xks_proxy_connectivity, xks_proxy_vpc_endpoint_service_name, \
     xks_proxy_vpc_endpoint_service_owner, xks_proxy_access_key_id, connection_state, \
     connection_error_code, created_at, version";

fn from_row<R: Row>(row: &R) -> Result<CustomKeyStoreRecord, StoreError> {
    Ok(CustomKeyStoreRecord {
        custom_key_store_id: column(row, "custom_key_store_id")?,
        account_id: column(row, "account_id")?,
        region: column(row, "region")?,
        name: column(row, "name")?,
        store_type: column(row, "store_type")?,
        cloud_hsm_cluster_id: column(row, "cloud_hsm_cluster_id")?,
        trust_anchor_certificate: column(row, "trust_anchor_certificate")?,
        sealed_secret: column(row, "sealed_secret")?,
        xks_proxy_uri_endpoint: column(row, "xks_proxy_uri_endpoint")?,
        xks_proxy_uri_path: column(row, "xks_proxy_uri_path")?,
        xks_proxy_connectivity: column(row, "xks_proxy_connectivity")?,
        xks_proxy_vpc_endpoint_service_name: column(row, "xks_proxy_vpc_endpoint_service_name")?,
        xks_proxy_vpc_endpoint_service_owner: column(row, "xks_proxy_vpc_endpoint_service_owner")?,
        xks_proxy_access_key_id: column(row, "xks_proxy_access_key_id")?,
        connection_state: column(row, "connection_state")?,
        connection_error_code: column(row, "connection_error_code")?,
        created_at: column(row, "created_at")?,
        version: column(row, "version")?,
    })
}

/// The store `id`'s row.
fn select_by_id(id: &str) -> crate::sql::Query<'_> {
    query(format!(
        "SELECT {COLUMNS} FROM custom_key_stores WHERE custom_key_store_id = $1"
    ))
    .bind(id)
}

impl<D: Dialect> SqlStore<D> {
    pub(super) async fn cks_create(&self, s: &CustomKeyStoreRecord) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        query(format!(
            "INSERT INTO custom_key_stores ({COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        ))
        .bind(&s.custom_key_store_id)
        .bind(&s.account_id)
        .bind(&s.region)
        .bind(&s.name)
        .bind(s.store_type)
        .bind(&s.cloud_hsm_cluster_id)
        .bind(&s.trust_anchor_certificate)
        .bind(&s.sealed_secret)
        .bind(&s.xks_proxy_uri_endpoint)
        .bind(&s.xks_proxy_uri_path)
        .bind(s.xks_proxy_connectivity)
        .bind(&s.xks_proxy_vpc_endpoint_service_name)
        .bind(&s.xks_proxy_vpc_endpoint_service_owner)
        .bind(&s.xks_proxy_access_key_id)
        .bind(s.connection_state)
        .bind(s.connection_error_code)
        .bind(s.created_at)
        .bind(s.version)
        .execute(&mut tx)
        .await
        .map_err(Self::write_error)?;
        Self::commit_announcing(tx, OnCommit::of(Change::All)).await
    }

    pub(super) async fn cks_get(
        &self,
        id: &str,
    ) -> Result<Option<CustomKeyStoreRecord>, StoreError> {
        select_by_id(id)
            .read_optional(self.db.reader())
            .await
            .map_err(D::backend)?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Every custom key store of the store, of every account and region (for
    /// `trent migrate-store`).
    pub async fn all_custom_key_stores(&self) -> Result<Vec<CustomKeyStoreRecord>, StoreError> {
        let c = D::COLLATE;
        let rows = query(format!(
            "SELECT {COLUMNS} FROM custom_key_stores ORDER BY custom_key_store_id{c}"
        ))
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, from_row)
    }

    pub(super) async fn cks_list(
        &self,
        account_id: &str,
        region: &str,
    ) -> Result<Vec<CustomKeyStoreRecord>, StoreError> {
        let c = D::COLLATE;
        let rows = query(format!(
            "SELECT {COLUMNS} FROM custom_key_stores WHERE account_id = $1 AND region = $2 \
             ORDER BY created_at, custom_key_store_id{c}"
        ))
        .bind(account_id)
        .bind(region)
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, from_row)
    }

    pub(super) async fn cks_update(
        &self,
        s: &CustomKeyStoreRecord,
    ) -> Result<CustomKeyStoreRecord, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let updated = query(
            "UPDATE custom_key_stores SET name = $1, cloud_hsm_cluster_id = $2, \
             trust_anchor_certificate = $3, sealed_secret = $4, xks_proxy_uri_endpoint = $5, \
             xks_proxy_uri_path = $6, xks_proxy_connectivity = $7, \
             xks_proxy_vpc_endpoint_service_name = $8, xks_proxy_vpc_endpoint_service_owner = $9, \
             xks_proxy_access_key_id = $10, connection_state = $11, connection_error_code = $12, \
             version = version + 1 \
             WHERE custom_key_store_id = $13 AND version = $14",
        )
        .bind(&s.name)
        .bind(&s.cloud_hsm_cluster_id)
        .bind(&s.trust_anchor_certificate)
        .bind(&s.sealed_secret)
        .bind(&s.xks_proxy_uri_endpoint)
        .bind(&s.xks_proxy_uri_path)
        .bind(s.xks_proxy_connectivity)
        .bind(&s.xks_proxy_vpc_endpoint_service_name)
        .bind(&s.xks_proxy_vpc_endpoint_service_owner)
        .bind(&s.xks_proxy_access_key_id)
        .bind(s.connection_state)
        .bind(s.connection_error_code)
        .bind(&s.custom_key_store_id)
        .bind(s.version)
        .execute(&mut tx)
        .await
        .map_err(Self::write_error)?;
        if updated == 0 {
            Self::rollback(tx).await?;
            return Err(match self.cks_get(&s.custom_key_store_id).await? {
                Some(_) => StoreError::Conflict,
                None => StoreError::NotFound,
            });
        }
        let row = select_by_id(&s.custom_key_store_id)
            .fetch_optional(&mut tx)
            .await
            .map_err(D::backend)?
            .ok_or(StoreError::NotFound)?;
        let stored = from_row(&row)?;
        Self::commit_announcing(tx, OnCommit::of(Change::All)).await?;
        Ok(stored)
    }

    pub(super) async fn cks_delete(&self, id: &str, version: i64) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        // The store's row first, in a statement of its own: a CreateKey in the store holds
        // it until its key is in, and the DELETE's own snapshot (READ COMMITTED: a fresh
        // one per statement) is taken after, so it sees that key.
        query(format!(
            "SELECT 1 AS one FROM custom_key_stores WHERE custom_key_store_id = $1{}",
            D::FOR_UPDATE
        ))
        .bind(id)
        .fetch_optional(&mut tx)
        .await
        .map_err(D::backend)?;
        let deleted = query(
            "DELETE FROM custom_key_stores WHERE custom_key_store_id = $1 AND version = $2 \
             AND NOT EXISTS (SELECT 1 FROM keys WHERE custom_key_store_id = $1)",
        )
        .bind(id)
        .bind(version)
        .execute(&mut tx)
        .await
        .map_err(D::backend)?;
        if deleted == 0 {
            Self::rollback(tx).await?;
            return Err(match self.cks_get(id).await? {
                Some(_) => StoreError::Conflict,
                None => StoreError::NotFound,
            });
        }
        Self::commit_announcing(tx, OnCommit::of(Change::All)).await
    }

    pub(super) async fn cks_key_count(&self, id: &str) -> Result<i64, StoreError> {
        let row = query("SELECT COUNT(*) AS n FROM keys WHERE custom_key_store_id = $1")
            .bind(id)
            .read_one(self.db.reader())
            .await
            .map_err(D::backend)?;
        column(&row, "n")
    }
}
