//! The store's logic, written once for every SQL database: [`SqlStore`] implements
//! [`Store`] over a [`Dialect`] (SQLite in `sqlite.rs`, PostgreSQL in `postgres.rs`), which
//! supplies only what truly differs (connections, error sorting, the change feed, row
//! locks, a few words of SQL).
//!
//! Every write is one transaction of the dialect's ([`Dialect::begin_write`]). The version
//! check of an update is part of its `UPDATE ... WHERE version = $n`, so no other writer
//! can slip in between, in this process or (for PostgreSQL) on another node. Every write
//! announces what it changed ([`Dialect::notify`]; a no-op for a single-process database).

mod custom_key_stores;
mod import;
mod multi_region;
mod reseal;
mod time;
mod transact;

pub(crate) use transact::OnCommit;

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::error::ErrorKind;

use crate::grants::{
    decode_operations, decode_pairs, encode_operations, encode_pairs, GRANT_COLUMNS,
};
use crate::sql::{column, query, Dialect, Row, Tx};
use crate::transaction::{Committed, Transaction};
use crate::{
    ttl_millis, AccessKeyRecord, AliasRecord, Change, ChangeStream, CreateGrantOutcome,
    CustomKeyStoreRecord, GrantLimits, GrantRecord, ImportedMaterialRecord, InvalidRecord,
    KeyManagerType, KeyRecord, KeyUsageRecord, MaterialHistoryEntry, MaterialRecord, Resealed,
    RotationSchedule, RotationType, SealedKind, SealedSecret, Store, StoreError,
};

/// The key columns, in the order [`key_from_row`] expects.
pub(crate) const KEY_COLUMNS: &str =
    "k.key_id, k.account_id, k.region, k.arn, k.version, k.created_at, \
     k.description, k.key_spec, k.key_usage, k.origin, k.state, k.deletion_date, \
     k.pending_deletion_window_days, k.current_material_id, k.multi_region, k.policy, \
     k.mrk_id, k.primary_region, k.key_manager, k.custom_key_store_id, k.xks_key_id";
const ALIAS_COLUMNS: &str = "account_id, region, alias_name, target_key_id, created_at, updated_at";
const ACCESS_KEY_COLUMNS: &str =
    "access_key_id, account_id, principal_arn, sealed_secret, created_at, status";

/// The [`Store`] on one SQL database; `D` is the database's dialect (what differs between
/// the databases). Use it through [`crate::SqliteStore`] or [`crate::PostgresStore`].
///
/// Beyond the trait's contract: `update_key` never changes a key's identity (`account_id`,
/// `region`, `arn`, `created_at`, `mrk_id`, `key_manager`, `custom_key_store_id`,
/// `xks_key_id`); the
/// record it returns carries the stored ones.
pub struct SqlStore<D> {
    pub(crate) db: D,
}

impl<D: Dialect> std::fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.db.fmt(f)
    }
}

pub(crate) fn invalid(what: &'static str) -> StoreError {
    StoreError::Backend(Box::new(InvalidRecord { what }))
}

pub(crate) fn check_tags(tags: &[(String, String)]) -> Result<(), StoreError> {
    let mut seen = HashSet::with_capacity(tags.len());
    if tags.iter().all(|(k, _)| seen.insert(k.as_str())) {
        Ok(())
    } else {
        Err(invalid("a tag key appears more than once"))
    }
}

/// The `key_counts` shard a key is counted in: its id's last character.
fn key_shard(key_id: &str) -> &str {
    key_id
        .char_indices()
        .next_back()
        .map_or("", |(i, _)| &key_id[i..])
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt { what }
}

fn alias_change(account_id: &str, region: &str, alias_name: &str) -> Change {
    Change::Alias {
        account_id: account_id.to_owned(),
        region: region.to_owned(),
        alias_name: alias_name.to_owned(),
    }
}

fn key_from_row<R: Row>(row: &R) -> Result<KeyRecord, StoreError> {
    let key_id: String = column(row, "key_id")?;
    let window: Option<i64> = column(row, "pending_deletion_window_days")?;
    let pending_deletion_window_days = window.map(i32::try_from).transpose().map_err(|_| {
        corrupt(format!(
            "key {key_id}: pending deletion window out of range"
        ))
    })?;
    let multi_region = match column::<i64, _>(row, "multi_region")? {
        0 => false,
        1 => true,
        other => return Err(corrupt(format!("key {key_id}: multi_region is {other}"))),
    };
    Ok(KeyRecord {
        account_id: column(row, "account_id")?,
        region: column(row, "region")?,
        arn: column(row, "arn")?,
        version: column(row, "version")?,
        created_at: column(row, "created_at")?,
        description: column(row, "description")?,
        key_spec: column(row, "key_spec")?,
        key_usage: column(row, "key_usage")?,
        origin: column(row, "origin")?,
        state: column(row, "state")?,
        key_manager: column(row, "key_manager")?,
        custom_key_store_id: column(row, "custom_key_store_id")?,
        xks_key_id: column(row, "xks_key_id")?,
        deletion_date: column(row, "deletion_date")?,
        pending_deletion_window_days,
        // '' is "no material yet" (migration 0006).
        current_material_id: Some(column::<String, _>(row, "current_material_id")?)
            .filter(|m| !m.is_empty()),
        multi_region,
        mrk_id: column(row, "mrk_id")?,
        primary_region: column(row, "primary_region")?,
        tags: Vec::new(),
        policy: column(row, "policy")?,
        key_id,
    })
}

/// Folds rows of keys left-joined with their tags (ordered by key, then tag position) into
/// records: one row per tag, or one row with NULL tag columns for a key without tags.
fn keys_from_rows<R: Row>(rows: &[R]) -> Result<Vec<KeyRecord>, StoreError> {
    let mut keys: Vec<KeyRecord> = Vec::new();
    for row in rows {
        let key_id: String = column(row, "key_id")?;
        if keys.last().is_none_or(|k| k.key_id != key_id) {
            keys.push(key_from_row(row)?);
        }
        let tag_key: Option<String> = column(row, "tag_key")?;
        if let (Some(tag_key), Some(key)) = (tag_key, keys.last_mut()) {
            let tag_value: String = column(row, "tag_value")?;
            key.tags.push((tag_key, tag_value));
        }
    }
    Ok(keys)
}

fn material_from_row<R: Row>(row: &R) -> Result<MaterialRecord, StoreError> {
    Ok(MaterialRecord {
        key_id: column(row, "key_id")?,
        material_id: column(row, "material_id")?,
        created_at: column(row, "created_at")?,
        sealed: column(row, "sealed")?,
    })
}

fn alias_from_row<R: Row>(row: &R) -> Result<AliasRecord, StoreError> {
    Ok(AliasRecord {
        account_id: column(row, "account_id")?,
        region: column(row, "region")?,
        alias_name: column(row, "alias_name")?,
        target_key_id: column(row, "target_key_id")?,
        created_at: column(row, "created_at")?,
        updated_at: column(row, "updated_at")?,
    })
}

fn access_key_from_row<R: Row>(row: &R) -> Result<AccessKeyRecord, StoreError> {
    Ok(AccessKeyRecord {
        access_key_id: column(row, "access_key_id")?,
        account_id: column(row, "account_id")?,
        principal_arn: column(row, "principal_arn")?,
        sealed_secret: column(row, "sealed_secret")?,
        created_at: column(row, "created_at")?,
        status: column(row, "status")?,
    })
}

fn grant_from_row<R: Row>(row: &R) -> Result<GrantRecord, StoreError> {
    let grant_id: String = column(row, "grant_id")?;
    let pairs = |name: &str| -> Result<Option<Vec<(String, String)>>, StoreError> {
        let text: Option<String> = column(row, name)?;
        text.map(|t| decode_pairs(&t).ok_or_else(|| corrupt(format!("grant {grant_id}: {name}"))))
            .transpose()
    };
    Ok(GrantRecord {
        key_id: column(row, "key_id")?,
        key_arn: column(row, "key_arn")?,
        name: column(row, "name")?,
        grantee_principal: column(row, "grantee_principal")?,
        retiring_principal: column(row, "retiring_principal")?,
        issuing_account: column(row, "issuing_account")?,
        operations: decode_operations(&column::<String, _>(row, "operations")?),
        constraint_equals: pairs("constraint_equals")?,
        constraint_subset: pairs("constraint_subset")?,
        created_at: column(row, "created_at")?,
        grant_id,
    })
}

/// Decodes every row with `f`.
fn decode_all<R: Row, T>(
    rows: &[R],
    f: impl Fn(&R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(f).collect()
}

impl<D: Dialect> SqlStore<D> {
    /// Maps a write's error: a uniqueness violation is `AlreadyExists`, anything else as
    /// the dialect sorts it.
    fn write_error(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
                StoreError::AlreadyExists
            }
            _ => D::backend(e),
        }
    }

    async fn commit(tx: D::Tx) -> Result<(), StoreError> {
        tx.commit().await.map_err(D::backend)
    }

    async fn rollback(tx: D::Tx) -> Result<(), StoreError> {
        tx.rollback().await.map_err(D::backend)
    }

    /// Inserts the alias in `tx`; `AlreadyExists` if its name is taken.
    pub(super) async fn insert_alias_in(
        tx: &mut D::Tx,
        alias: &AliasRecord,
        on_commit: &mut OnCommit,
    ) -> Result<(), StoreError> {
        query(format!(
            "INSERT INTO aliases ({ALIAS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(&alias.account_id)
        .bind(&alias.region)
        .bind(&alias.alias_name)
        .bind(&alias.target_key_id)
        .bind(alias.created_at)
        .bind(alias.updated_at)
        .execute(tx)
        .await
        .map_err(Self::write_error)?;
        on_commit.announce(alias_change(
            &alias.account_id,
            &alias.region,
            &alias.alias_name,
        ));
        Ok(())
    }

    /// Whether the key exists (read in `tx`; with [`Dialect::FOR_UPDATE`] if `lock`).
    async fn key_exists(tx: &mut D::Tx, key_id: &str, lock: bool) -> Result<bool, StoreError> {
        let lock = if lock { D::FOR_UPDATE } else { "" };
        Ok(
            query(format!("SELECT 1 AS one FROM keys WHERE key_id = $1{lock}"))
                .bind(key_id)
                .fetch_optional(tx)
                .await
                .map_err(D::backend)?
                .is_some(),
        )
    }

    /// `Conflict` if the key exists (its version changed), `NotFound` if it does not.
    async fn stale_or_missing(tx: &mut D::Tx, key_id: &str) -> StoreError {
        match Self::key_exists(tx, key_id, false).await {
            Ok(true) => StoreError::Conflict,
            Ok(false) => StoreError::NotFound,
            Err(e) => e,
        }
    }

    async fn insert_tags(
        tx: &mut D::Tx,
        key_id: &str,
        tags: &[(String, String)],
    ) -> Result<(), StoreError> {
        for (position, (tag_key, tag_value)) in (0_i64..).zip(tags) {
            query(
                "INSERT INTO key_tags (key_id, position, tag_key, tag_value) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(key_id)
            .bind(position)
            .bind(tag_key)
            .bind(tag_value)
            .execute(tx)
            .await
            .map_err(D::backend)?;
        }
        Ok(())
    }

    /// Inserts a key row and its tags (`AlreadyExists` if the key id is taken), announcing
    /// it on commit.
    async fn insert_key(
        tx: &mut D::Tx,
        key: &KeyRecord,
        on_commit: &mut OnCommit,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO keys (key_id, account_id, region, arn, version, created_at, \
             description, key_spec, key_usage, origin, state, deletion_date, \
             pending_deletion_window_days, current_material_id, multi_region, policy, mrk_id, \
             primary_region, key_manager, custom_key_store_id, xks_key_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, $21)",
        )
        .bind(&key.key_id)
        .bind(&key.account_id)
        .bind(&key.region)
        .bind(&key.arn)
        .bind(key.version)
        .bind(key.created_at)
        .bind(&key.description)
        .bind(key.key_spec)
        .bind(key.key_usage)
        .bind(key.origin)
        .bind(key.state)
        .bind(key.deletion_date)
        .bind(key.pending_deletion_window_days.map(i64::from))
        .bind(key.current_material_id.as_deref().unwrap_or(""))
        .bind(i64::from(key.multi_region))
        .bind(&key.policy)
        .bind(&key.mrk_id)
        .bind(&key.primary_region)
        .bind(key.key_manager)
        .bind(&key.custom_key_store_id)
        .bind(&key.xks_key_id)
        .execute(tx)
        .await
        .map_err(Self::write_error)?;
        if key.key_manager == KeyManagerType::Customer {
            Self::count_customer_key(tx, &key.account_id, &key.region, &key.key_id, 1).await?;
        }
        Self::insert_tags(tx, &key.key_id, &key.tags).await?;
        on_commit.key(&key.key_id);
        Ok(())
    }

    /// Adds `delta` (1 or -1) to the customer managed keys of an account and region, in
    /// the key's shard (`key_counts`, migration 0011).
    pub(super) async fn count_customer_key(
        tx: &mut D::Tx,
        account_id: &str,
        region: &str,
        key_id: &str,
        delta: i64,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO key_counts (account_id, region, shard, customer_keys) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, region, shard) \
             DO UPDATE SET customer_keys = key_counts.customer_keys + $4",
        )
        .bind(account_id)
        .bind(region)
        .bind(key_shard(key_id))
        .bind(delta)
        .execute(tx)
        .await
        .map_err(D::backend)?;
        Ok(())
    }

    /// Inserts one material version of a key as its `seq`-th.
    async fn insert_material(
        tx: &mut D::Tx,
        material: &MaterialRecord,
        seq: i64,
    ) -> Result<(), StoreError> {
        query(
            "INSERT INTO key_materials (key_id, material_id, seq, created_at, sealed) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&material.key_id)
        .bind(&material.material_id)
        .bind(seq)
        .bind(material.created_at)
        .bind(&material.sealed)
        .execute(tx)
        .await
        .map_err(Self::write_error)?;
        Ok(())
    }

    /// Adds a material version to a key with the next sequence number. The caller holds
    /// the key (its row lock, or the database's write lock), so two additions never
    /// compute the same number.
    async fn append_material(tx: &mut D::Tx, material: &MaterialRecord) -> Result<(), StoreError> {
        query(
            "INSERT INTO key_materials (key_id, material_id, seq, created_at, sealed) \
             SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4 \
             FROM key_materials WHERE key_id = $1",
        )
        .bind(&material.key_id)
        .bind(&material.material_id)
        .bind(material.created_at)
        .bind(&material.sealed)
        .execute(tx)
        .await
        .map_err(Self::write_error)?;
        Ok(())
    }

    /// `update_key` inside a transaction, announcing the key on commit: nothing is written
    /// on an error (the caller drops the transaction, which rolls it back).
    async fn update_key_in(
        tx: &mut D::Tx,
        key: &KeyRecord,
        on_commit: &mut OnCommit,
    ) -> Result<KeyRecord, StoreError> {
        check_tags(&key.tags)?;
        let stored = query(
            "UPDATE keys SET version = version + 1, description = $1, key_spec = $2, \
             key_usage = $3, origin = $4, state = $5, deletion_date = $6, \
             pending_deletion_window_days = $7, current_material_id = $8, multi_region = $9, \
             policy = $12, primary_region = $13 WHERE key_id = $10 AND version = $11 \
             RETURNING account_id, region, arn, created_at, version, mrk_id, key_manager, \
             custom_key_store_id, xks_key_id",
        )
        .bind(&key.description)
        .bind(key.key_spec)
        .bind(key.key_usage)
        .bind(key.origin)
        .bind(key.state)
        .bind(key.deletion_date)
        .bind(key.pending_deletion_window_days.map(i64::from))
        .bind(key.current_material_id.as_deref().unwrap_or(""))
        .bind(i64::from(key.multi_region))
        .bind(&key.key_id)
        .bind(key.version)
        .bind(&key.policy)
        .bind(&key.primary_region)
        .fetch_optional(tx)
        .await
        .map_err(D::backend)?;
        let Some(stored) = stored else {
            return Err(Self::stale_or_missing(tx, &key.key_id).await);
        };
        let updated = KeyRecord {
            account_id: column(&stored, "account_id")?,
            region: column(&stored, "region")?,
            arn: column(&stored, "arn")?,
            created_at: column(&stored, "created_at")?,
            version: column(&stored, "version")?,
            mrk_id: column(&stored, "mrk_id")?,
            key_manager: column(&stored, "key_manager")?,
            custom_key_store_id: column(&stored, "custom_key_store_id")?,
            xks_key_id: column(&stored, "xks_key_id")?,
            ..key.clone()
        };
        query("DELETE FROM key_tags WHERE key_id = $1")
            .bind(&key.key_id)
            .execute(tx)
            .await
            .map_err(D::backend)?;
        Self::insert_tags(tx, &key.key_id, &key.tags).await?;
        on_commit.key(&key.key_id);
        Ok(updated)
    }

    /// Counts of (meta entries, keys, materials, aliases, access keys), for verifying a
    /// copy.
    pub async fn counts(&self) -> Result<[i64; 5], StoreError> {
        let row = query(
            "SELECT (SELECT COUNT(*) FROM meta) AS meta, (SELECT COUNT(*) FROM keys) AS keys, \
             (SELECT COUNT(*) FROM key_materials) AS materials, \
             (SELECT COUNT(*) FROM aliases) AS aliases, \
             (SELECT COUNT(*) FROM access_keys) AS access_keys",
        )
        .read_one(self.db.reader())
        .await
        .map_err(D::backend)?;
        let mut out = [0_i64; 5];
        for (slot, name) in
            out.iter_mut()
                .zip(["meta", "keys", "materials", "aliases", "access_keys"])
        {
            *slot = row.int(name).map_err(D::backend)?;
        }
        Ok(out)
    }

    /// Whether the database holds no Trent data at all (no meta, key, alias or access
    /// key): the only kind of target `trent migrate-store` writes into.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let row = query(
            "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM meta) OR EXISTS (SELECT 1 FROM keys) \
             OR EXISTS (SELECT 1 FROM aliases) OR EXISTS (SELECT 1 FROM access_keys) \
             THEN 1 ELSE 0 END AS BIGINT) AS any_data",
        )
        .read_one(self.db.reader())
        .await
        .map_err(D::backend)?;
        Ok(column::<i64, _>(&row, "any_data")? == 0)
    }

    /// Every meta entry, by name (for copying a deployment).
    pub async fn all_meta(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = query(format!(
            "SELECT name, value FROM meta ORDER BY name{}",
            D::COLLATE
        ))
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, |r| Ok((column(r, "name")?, column(r, "value")?)))
    }

    /// Every key id of every account and region, in order (for copying a deployment).
    pub async fn all_key_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows = query(format!(
            "SELECT key_id FROM keys ORDER BY key_id{}",
            D::COLLATE
        ))
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, |r| column(r, "key_id"))
    }

    /// Every alias of every account and region (for copying a deployment).
    pub async fn all_aliases(&self) -> Result<Vec<AliasRecord>, StoreError> {
        let c = D::COLLATE;
        let rows = query(format!(
            "SELECT {ALIAS_COLUMNS} FROM aliases \
             ORDER BY account_id{c}, region{c}, alias_name{c}"
        ))
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, alias_from_row)
    }

    /// A single-statement write in a transaction of its own; the number of rows changed.
    /// The statement is built once the transaction has begun (a lease reads the clock
    /// then, after any wait for SQLite's write lock).
    async fn write_one<'q>(
        &self,
        build: impl FnOnce() -> crate::sql::Query<'q> + Send,
    ) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let changed = build().execute(&mut tx).await.map_err(D::backend)?;
        Self::commit(tx).await?;
        Ok(changed)
    }

    /// The expression of "now" for a lease statement whose other placeholders are
    /// `$1`..`$n`: the database's clock, or this process's bound as `$n+1`.
    fn lease_clock(n: usize) -> (String, Option<i64>) {
        match D::NOW_MS {
            Some(expr) => (expr.to_owned(), None),
            None => (format!("${}", n + 1), Some(now_millis())),
        }
    }
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[async_trait]
impl<D: Dialect> Store for SqlStore<D> {
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        query("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .read_optional(self.db.reader())
            .await
            .map_err(D::backend)?
            .map(|row| column(&row, "value"))
            .transpose()
    }

    async fn init_meta(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        // A racing insert of the same name waits for the first to commit, then does
        // nothing; the SELECT (a new snapshot under READ COMMITTED, or SQLite's write lock
        // held since the start) sees the winner's.
        let mut tx = self.db.begin_write().await?;
        query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&mut tx)
            .await
            .map_err(D::backend)?;
        let stored = query("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut tx)
            .await
            .map_err(D::backend)?
            .ok_or_else(|| corrupt(format!("meta {name} vanished after its insert")))?;
        let stored: Vec<u8> = column(&stored, "value")?;
        Self::commit(tx).await?;
        Ok(stored)
    }

    async fn swap_meta(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let changed =
            match (old, new) {
                (None, Some(new)) => query(
                    "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(new)
                .execute(&mut tx)
                .await,
                (Some(old), Some(new)) => {
                    query("UPDATE meta SET value = $1 WHERE name = $2 AND value = $3")
                        .bind(new)
                        .bind(name)
                        .bind(old)
                        .execute(&mut tx)
                        .await
                }
                (Some(old), None) => {
                    query("DELETE FROM meta WHERE name = $1 AND value = $2")
                        .bind(name)
                        .bind(old)
                        .execute(&mut tx)
                        .await
                }
                (None, None) => {
                    let absent = query("SELECT value FROM meta WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&mut tx)
                        .await
                        .map_err(D::backend)?
                        .is_none();
                    Ok(u64::from(absent))
                }
            }
            .map_err(D::backend)?;
        if changed != 1 {
            Self::rollback(tx).await?;
            return Err(StoreError::Conflict);
        }
        Self::commit(tx).await
    }

    async fn create_key(
        &self,
        key: &KeyRecord,
        material: Option<&MaterialRecord>,
    ) -> Result<(), StoreError> {
        check_tags(&key.tags)?;
        if material.is_some_and(|m| m.key_id != key.key_id) {
            return Err(invalid("the first material belongs to another key"));
        }
        if material.is_some() && key.current_material_id.is_none() {
            return Err(invalid("a first material that is not the current material"));
        }
        let mut tx = self.db.begin_write().await?;
        if let Some(store_id) = &key.custom_key_store_id {
            // The key's custom key store, locked until the key is in (DeleteCustomKeyStore
            // waits for it, then sees the key): it must exist, else `Conflict`. (Its
            // connection state is the service's to check: a store disconnected meanwhile
            // holds the key as any key of a disconnected store.)
            let exists = query(format!(
                "SELECT 1 AS one FROM custom_key_stores WHERE custom_key_store_id = $1{}",
                D::FOR_UPDATE
            ))
            .bind(store_id)
            .fetch_optional(&mut tx)
            .await
            .map_err(D::backend)?
            .is_some();
            if !exists {
                Self::rollback(tx).await?;
                return Err(StoreError::Conflict);
            }
        }
        let mut on_commit = OnCommit::default();
        Self::insert_key(&mut tx, key, &mut on_commit).await?;
        if let Some(material) = material {
            Self::insert_material(&mut tx, material, 1).await?;
        }
        Self::commit_announcing(tx, on_commit).await
    }

    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let rows = query(format!(
            "SELECT {KEY_COLUMNS}, t.tag_key, t.tag_value FROM keys AS k \
             LEFT JOIN key_tags AS t ON t.key_id = k.key_id \
             WHERE k.key_id = $1 ORDER BY t.position"
        ))
        .bind(key_id)
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        Ok(keys_from_rows(&rows)?.pop())
    }

    async fn key_version(&self, key_id: &str) -> Result<Option<i64>, StoreError> {
        let row = query("SELECT version FROM keys WHERE key_id = $1")
            .bind(key_id)
            .read_optional(self.db.reader())
            .await
            .map_err(D::backend)?;
        row.map(|row| column(&row, "version")).transpose()
    }

    async fn update_key(&self, key: &KeyRecord) -> Result<KeyRecord, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let mut on_commit = OnCommit::default();
        let updated = Self::update_key_in(&mut tx, key, &mut on_commit).await?;
        Self::commit_announcing(tx, on_commit).await?;
        Ok(updated)
    }

    async fn list_keys(
        &self,
        account_id: &str,
        region: &str,
        after_key_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        // Two statements rather than `($4 IS NULL OR key_id > $4)`, which keeps SQLite from
        // seeking the index to the page's first key.
        let c = D::COLLATE;
        let after = if after_key_id.is_some() {
            format!("AND key_id{c} > $4")
        } else {
            String::new()
        };
        let q = query(format!(
            "SELECT {KEY_COLUMNS}, t.tag_key, t.tag_value \
             FROM (SELECT * FROM keys WHERE account_id = $1 AND region = $2 {after} \
                   ORDER BY key_id{c} LIMIT $3) AS k \
             LEFT JOIN key_tags AS t ON t.key_id = k.key_id \
             ORDER BY k.key_id{c}, t.position"
        ))
        .bind(account_id)
        .bind(region)
        .bind(i64::from(limit))
        .bind_some(after_key_id);
        let rows = q.read_all(self.db.reader()).await.map_err(D::backend)?;
        keys_from_rows(&rows)
    }

    async fn add_material(&self, material: &MaterialRecord) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        // Holding the key (its row lock, or the write lock) serializes additions to one
        // key, so that two of them never compute the same next sequence number.
        if !Self::key_exists(&mut tx, &material.key_id, true).await? {
            Self::rollback(tx).await?;
            return Err(StoreError::NotFound);
        }
        Self::append_material(&mut tx, material).await?;
        Self::commit_announcing(tx, OnCommit::of(Change::Key(material.key_id.clone()))).await
    }

    async fn materials(&self, key_id: &str) -> Result<Vec<MaterialRecord>, StoreError> {
        let rows = query(
            "SELECT key_id, material_id, created_at, sealed FROM key_materials \
             WHERE key_id = $1 ORDER BY seq",
        )
        .bind(key_id)
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, material_from_row)
    }

    async fn create_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let mut on_commit = OnCommit::default();
        Self::insert_alias_in(&mut tx, alias, &mut on_commit).await?;
        Self::commit_announcing(tx, on_commit).await
    }

    async fn alias(
        &self,
        account_id: &str,
        region: &str,
        alias_name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        query(format!(
            "SELECT {ALIAS_COLUMNS} FROM aliases \
             WHERE account_id = $1 AND region = $2 AND alias_name = $3"
        ))
        .bind(account_id)
        .bind(region)
        .bind(alias_name)
        .read_optional(self.db.reader())
        .await
        .map_err(D::backend)?
        .as_ref()
        .map(alias_from_row)
        .transpose()
    }

    async fn update_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let updated = query(
            "UPDATE aliases SET target_key_id = $1, updated_at = $2 \
             WHERE account_id = $3 AND region = $4 AND alias_name = $5",
        )
        .bind(&alias.target_key_id)
        .bind(alias.updated_at)
        .bind(&alias.account_id)
        .bind(&alias.region)
        .bind(&alias.alias_name)
        .execute(&mut tx)
        .await
        .map_err(D::backend)?;
        if updated == 0 {
            Self::rollback(tx).await?;
            return Err(StoreError::NotFound);
        }
        let change = alias_change(&alias.account_id, &alias.region, &alias.alias_name);
        Self::commit_announcing(tx, OnCommit::of(change)).await
    }

    async fn delete_alias(
        &self,
        account_id: &str,
        region: &str,
        alias_name: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let deleted =
            query("DELETE FROM aliases WHERE account_id = $1 AND region = $2 AND alias_name = $3")
                .bind(account_id)
                .bind(region)
                .bind(alias_name)
                .execute(&mut tx)
                .await
                .map_err(D::backend)?;
        if deleted == 0 {
            Self::rollback(tx).await?;
            return Err(StoreError::NotFound);
        }
        Self::commit_announcing(
            tx,
            OnCommit::of(alias_change(account_id, region, alias_name)),
        )
        .await
    }

    async fn list_aliases(
        &self,
        account_id: &str,
        region: &str,
        target_key_id: Option<&str>,
        after_alias_name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        // Placeholders are numbered in the order their values are bound.
        let c = D::COLLATE;
        let mut next = 4;
        let target = if target_key_id.is_some() {
            next += 1;
            "AND target_key_id = $4"
        } else {
            ""
        };
        let after = if after_alias_name.is_some() {
            format!("AND alias_name{c} > ${next}")
        } else {
            String::new()
        };
        let q = query(format!(
            "SELECT {ALIAS_COLUMNS} FROM aliases \
             WHERE account_id = $1 AND region = $2 {target} {after} \
             ORDER BY alias_name{c} LIMIT $3"
        ))
        .bind(account_id)
        .bind(region)
        .bind(i64::from(limit))
        .bind_some(target_key_id)
        .bind_some(after_alias_name);
        let rows = q.read_all(self.db.reader()).await.map_err(D::backend)?;
        decode_all(&rows, alias_from_row)
    }

    async fn put_access_key(&self, key: &AccessKeyRecord) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        query(format!(
            "INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(&key.access_key_id)
        .bind(&key.account_id)
        .bind(&key.principal_arn)
        .bind(&key.sealed_secret)
        .bind(key.created_at)
        .bind(&key.status)
        .execute(&mut tx)
        .await
        .map_err(Self::write_error)?;
        Self::commit(tx).await
    }

    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        query(format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = $1"
        ))
        .bind(access_key_id)
        .read_optional(self.db.reader())
        .await
        .map_err(D::backend)?
        .as_ref()
        .map(access_key_from_row)
        .transpose()
    }

    async fn access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        let rows = query(format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys ORDER BY access_key_id{}",
            D::COLLATE
        ))
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        decode_all(&rows, access_key_from_row)
    }

    async fn create_grant(
        &self,
        grant: &GrantRecord,
        limits: GrantLimits,
    ) -> Result<CreateGrantOutcome, StoreError> {
        let operations = encode_operations(&grant.operations)?;
        let mut tx = self.db.begin_write().await?;
        // Holding the key (its row lock on PostgreSQL, SQLite's write lock taken at BEGIN
        // IMMEDIATE) serializes every CreateGrant on this key, on any node, so the name and
        // quota checks below and the insert are one step.
        if !Self::key_exists(&mut tx, &grant.key_id, true).await? {
            Self::rollback(tx).await?;
            return Err(StoreError::NotFound);
        }
        if let Some(name) = &grant.name {
            let same_name = query(format!(
                "SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = $1 AND name = $2 \
                 ORDER BY created_at, grant_id{}",
                D::COLLATE
            ))
            .bind(&grant.key_id)
            .bind(name)
            .fetch_all(&mut tx)
            .await
            .map_err(D::backend)?;
            for row in &same_name {
                let existing = grant_from_row(row)?;
                if existing.same_request(grant) {
                    Self::rollback(tx).await?;
                    return Ok(CreateGrantOutcome::Existing(Box::new(existing)));
                }
            }
        }
        let counts = query(
            "SELECT COUNT(*) AS per_key, CAST(COALESCE(SUM(CASE WHEN grantee_principal = $2 \
             THEN 1 ELSE 0 END), 0) AS BIGINT) AS per_grantee \
             FROM grants WHERE key_id = $1",
        )
        .bind(&grant.key_id)
        .bind(&grant.grantee_principal)
        .fetch_optional(&mut tx)
        .await
        .map_err(D::backend)?
        .ok_or_else(|| corrupt("a count returned no row".to_owned()))?;
        let per_key: i64 = column(&counts, "per_key")?;
        let per_grantee: i64 = column(&counts, "per_grantee")?;
        if per_key >= i64::from(limits.per_key) {
            Self::rollback(tx).await?;
            return Ok(CreateGrantOutcome::TooManyForKey);
        }
        if per_grantee >= i64::from(limits.per_grantee_per_key) {
            Self::rollback(tx).await?;
            return Ok(CreateGrantOutcome::TooManyForGrantee);
        }
        query(format!(
            "INSERT INTO grants ({GRANT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&grant.grant_id)
        .bind(&grant.key_id)
        .bind(&grant.key_arn)
        .bind(&grant.name)
        .bind(&grant.grantee_principal)
        .bind(&grant.retiring_principal)
        .bind(&grant.issuing_account)
        .bind(operations)
        .bind(grant.constraint_equals.as_deref().map(encode_pairs))
        .bind(grant.constraint_subset.as_deref().map(encode_pairs))
        .bind(grant.created_at)
        .execute(&mut tx)
        .await
        .map_err(Self::write_error)?;
        Self::commit_announcing(tx, OnCommit::of(Change::Grants(grant.key_id.clone()))).await?;
        Ok(CreateGrantOutcome::Created)
    }

    async fn grant(&self, key_id: &str, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        query(format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = $1 AND grant_id = $2"
        ))
        .bind(key_id)
        .bind(grant_id)
        .read_optional(self.db.reader())
        .await
        .map_err(D::backend)?
        .as_ref()
        .map(grant_from_row)
        .transpose()
    }

    async fn list_grants(
        &self,
        key_id: &str,
        grantee_principal: Option<&str>,
        after_grant_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        // Placeholders are numbered in the order their values are bound.
        let c = D::COLLATE;
        let mut next = 3;
        let grantee = if grantee_principal.is_some() {
            next += 1;
            "AND grantee_principal = $3"
        } else {
            ""
        };
        let after = if after_grant_id.is_some() {
            format!("AND grant_id{c} > ${next}")
        } else {
            String::new()
        };
        let q = query(format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = $1 {grantee} {after} \
             ORDER BY grant_id{c} LIMIT $2"
        ))
        .bind(key_id)
        .bind(i64::from(limit))
        .bind_some(grantee_principal)
        .bind_some(after_grant_id);
        let rows = q.read_all(self.db.reader()).await.map_err(D::backend)?;
        decode_all(&rows, grant_from_row)
    }

    async fn list_retirable_grants(
        &self,
        retiring_principal: &str,
        region: &str,
        after_grant_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let c = D::COLLATE;
        let after = if after_grant_id.is_some() {
            format!("AND g.grant_id{c} > $4")
        } else {
            String::new()
        };
        let columns = GRANT_COLUMNS
            .split(", ")
            .map(|c| format!("g.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let q = query(format!(
            "SELECT {columns} FROM grants g JOIN keys k ON k.key_id = g.key_id \
             WHERE g.retiring_principal = $1 AND k.region = $2 {after} \
             ORDER BY g.grant_id{c} LIMIT $3"
        ))
        .bind(retiring_principal)
        .bind(region)
        .bind(i64::from(limit))
        .bind_some(after_grant_id);
        let rows = q.read_all(self.db.reader()).await.map_err(D::backend)?;
        decode_all(&rows, grant_from_row)
    }

    async fn delete_grant(&self, key_id: &str, grant_id: &str) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let deleted = query("DELETE FROM grants WHERE key_id = $1 AND grant_id = $2")
            .bind(key_id)
            .bind(grant_id)
            .execute(&mut tx)
            .await
            .map_err(D::backend)?;
        if deleted == 0 {
            Self::rollback(tx).await?;
            return Err(StoreError::NotFound);
        }
        Self::commit_announcing(tx, OnCommit::of(Change::Grants(key_id.to_owned()))).await
    }

    async fn subscribe(&self) -> Result<ChangeStream, StoreError> {
        self.db.subscribe().await
    }

    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        // One statement: a concurrent acquirer of the same name waits on the row (or the
        // write lock), then re-checks the condition against the winner's row and takes
        // nothing.
        let taken = self
            .write_one(|| {
                let (now, now_arg) = Self::lease_clock(3);
                query(format!(
                    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, {now} + $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, \
                     expires_at = EXCLUDED.expires_at \
                     WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= {now}"
                ))
                .bind(name)
                .bind(holder)
                .bind(ttl_millis(ttl))
                .bind_some(now_arg)
            })
            .await?;
        Ok(taken == 1)
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let renewed = self
            .write_one(|| {
                let (now, now_arg) = Self::lease_clock(3);
                query(format!(
                    "UPDATE leases SET expires_at = {now} + $1 \
                     WHERE name = $2 AND holder = $3 AND expires_at > {now}"
                ))
                .bind(ttl_millis(ttl))
                .bind(name)
                .bind(holder)
                .bind_some(now_arg)
            })
            .await?;
        Ok(renewed == 1)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.write_one(|| {
            query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
        })
        .await
        .map(|_| ())
    }

    // Keys over time (migration 0005): in `store/time.rs`.

    async fn rotation_schedule(
        &self,
        key_id: &str,
    ) -> Result<Option<RotationSchedule>, StoreError> {
        self.time_rotation_schedule(key_id).await
    }

    async fn set_rotation_schedule(
        &self,
        key_version: i64,
        schedule: &RotationSchedule,
    ) -> Result<i64, StoreError> {
        self.time_set_rotation_schedule(key_version, schedule).await
    }

    async fn material_history(
        &self,
        key_id: &str,
        rotations_only: bool,
        after_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MaterialHistoryEntry>, StoreError> {
        self.time_material_history(key_id, rotations_only, after_seq, limit)
            .await
    }

    async fn count_rotations(
        &self,
        key_id: &str,
        rotation_type: RotationType,
    ) -> Result<i64, StoreError> {
        self.time_count_rotations(key_id, rotation_type).await
    }

    async fn rotations_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<RotationSchedule>, StoreError> {
        self.time_rotations_due(now, limit).await
    }

    async fn deletions_due(&self, now: i64, limit: u32) -> Result<Vec<String>, StoreError> {
        self.time_deletions_due(now, limit).await
    }

    async fn delete_key(&self, key_id: &str, key_version: i64) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let mut on_commit = OnCommit::default();
        Self::delete_in(&mut tx, key_id, key_version, &mut on_commit).await?;
        Self::commit_announcing(tx, on_commit).await
    }

    async fn record_key_usage(&self, usage: &[KeyUsageRecord]) -> Result<(), StoreError> {
        self.time_record_key_usage(usage).await
    }

    async fn key_last_usage(&self, key_id: &str) -> Result<Option<KeyUsageRecord>, StoreError> {
        self.time_key_last_usage(key_id).await
    }

    // Imported key material (migration 0006): in `store/import.rs`.

    async fn imported_materials(
        &self,
        key_id: &str,
    ) -> Result<Vec<ImportedMaterialRecord>, StoreError> {
        self.import_materials_of(key_id).await
    }

    async fn import_expirations_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ImportedMaterialRecord>, StoreError> {
        self.import_expirations(now, limit).await
    }

    // Multi-Region keys (migration 0007): in `store/multi_region.rs`.

    async fn multi_region_keys(&self, mrk_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        self.mrk_keys(mrk_id).await
    }

    // Multi-record writes: in `store/transact.rs`.

    async fn transact(&self, transaction: &Transaction) -> Result<Committed, StoreError> {
        self.run_transaction(transaction).await
    }

    // Custom key stores (migration 0009): in `store/custom_key_stores.rs`.

    async fn create_custom_key_store(
        &self,
        store: &CustomKeyStoreRecord,
    ) -> Result<(), StoreError> {
        self.cks_create(store).await
    }

    async fn custom_key_store(&self, id: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError> {
        self.cks_get(id).await
    }

    async fn custom_key_stores(
        &self,
        account_id: &str,
        region: &str,
    ) -> Result<Vec<CustomKeyStoreRecord>, StoreError> {
        self.cks_list(account_id, region).await
    }

    async fn update_custom_key_store(
        &self,
        store: &CustomKeyStoreRecord,
    ) -> Result<CustomKeyStoreRecord, StoreError> {
        self.cks_update(store).await
    }

    async fn delete_custom_key_store(&self, id: &str, version: i64) -> Result<(), StoreError> {
        self.cks_delete(id, version).await
    }

    async fn custom_key_store_key_count(&self, id: &str) -> Result<i64, StoreError> {
        self.cks_key_count(id).await
    }

    async fn reset_account(&self, account_id: Option<&str>) -> Result<u64, StoreError> {
        // `account_id = $1 OR $1 IS NULL`: one statement for one account or all of them.
        let of_account = "($1 IS NULL OR account_id = $1)";
        let mut tx = self.db.begin_write().await?;
        for statement in [
            format!(
                "DELETE FROM key_last_usage WHERE key_id IN \
                 (SELECT key_id FROM keys WHERE {of_account})"
            ),
            format!("DELETE FROM aliases WHERE {of_account}"),
        ] {
            query(statement)
                .bind(account_id)
                .execute(&mut tx)
                .await
                .map_err(D::backend)?;
        }
        // Materials, tags, grants, schedules, rotations and imported materials go with
        // their keys (ON DELETE CASCADE).
        let deleted = query(format!("DELETE FROM keys WHERE {of_account}"))
            .bind(account_id)
            .execute(&mut tx)
            .await
            .map_err(D::backend)?;
        for table in ["custom_key_stores", "key_counts"] {
            query(format!("DELETE FROM {table} WHERE {of_account}"))
                .bind(account_id)
                .execute(&mut tx)
                .await
                .map_err(D::backend)?;
        }
        Self::commit_announcing(tx, OnCommit::of(Change::All)).await?;
        Ok(deleted)
    }

    async fn key_census(&self) -> Result<Vec<crate::KeyCensus>, StoreError> {
        let rows = query(
            "SELECT state, key_spec, key_manager, CAST(COUNT(*) AS BIGINT) AS n FROM keys \
             GROUP BY state, key_spec, key_manager ORDER BY state, key_spec, key_manager",
        )
        .read_all(self.db.reader())
        .await
        .map_err(D::backend)?;
        rows.iter()
            .map(|row| {
                Ok(crate::KeyCensus {
                    state: column(row, "state")?,
                    key_spec: column(row, "key_spec")?,
                    key_manager: column(row, "key_manager")?,
                    keys: column(row, "n")?,
                })
            })
            .collect()
    }

    async fn customer_key_count(&self, account_id: &str, region: &str) -> Result<i64, StoreError> {
        let row = query(
            "SELECT CAST(COALESCE(SUM(customer_keys), 0) AS BIGINT) AS n FROM key_counts \
             WHERE account_id = $1 AND region = $2",
        )
        .bind(account_id)
        .bind(region)
        .read_one(self.db.reader())
        .await
        .map_err(D::backend)?;
        column(&row, "n")
    }

    // Changing the root key: in `store/reseal.rs`.

    async fn sealed_secrets(
        &self,
        kind: SealedKind,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<SealedSecret>, StoreError> {
        self.list_sealed(kind, after, limit).await
    }

    async fn reseal(&self, batch: &[Resealed]) -> Result<(), StoreError> {
        self.reseal_batch(batch).await
    }
}
