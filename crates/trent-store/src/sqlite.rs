//! The embedded backend: one SQLite file in WAL mode.
//!
//! Two pools share the file. The writer pool holds a single connection, so this process's
//! writes queue in the pool instead of spinning in SQLite's busy handler; every write
//! transaction starts with `BEGIN IMMEDIATE`, taking SQLite's write lock up front, so a
//! transaction never has to upgrade a read snapshot that another writer made stale (which
//! SQLite reports as `SQLITE_BUSY` without waiting). SQLite's own locking is still what makes
//! writes correct, including against another process on the same file. The reader pool
//! holds several `query_only` connections: in WAL mode readers neither block nor are blocked
//! by the writer, and each read is a single statement, hence a single consistent snapshot.
//!
//! `synchronous=FULL` makes SQLite fsync the WAL at every commit, so a write that returned
//! `Ok` survives a crash or power loss (<https://www.sqlite.org/pragma.html#pragma_synchronous>).

mod import;
mod multi_region;
mod time;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Executor, Row, Sqlite, Transaction};

use crate::grants::{
    decode_operations, decode_pairs, encode_operations, encode_pairs, GRANT_COLUMNS,
};
use crate::migrations::{SchemaTooNew, CREATE_SCHEMA_MIGRATIONS, LATEST_VERSION, MIGRATIONS};
use crate::{
    ttl_millis, AccessKeyRecord, AliasRecord, ChangeStream, CreateGrantOutcome, GrantLimits,
    GrantRecord, ImportedMaterialRecord, InvalidRecord, KeyRecord, KeyUsageRecord,
    MaterialHistoryEntry, MaterialRecord, RotationRecord, RotationSchedule, Store, StoreError,
};

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent readers; reads are rare (the key service caches), a few suffice.
const READERS: u32 = 4;

/// The key columns, in the order [`key_from_row`] expects.
const KEY_COLUMNS: &str = "k.key_id, k.account_id, k.region, k.arn, k.version, k.created_at, \
     k.description, k.key_spec, k.key_usage, k.origin, k.state, k.deletion_date, \
     k.pending_deletion_window_days, k.current_material_id, k.multi_region, k.policy, \
     k.mrk_id, k.primary_region";

/// The [`Store`] on an SQLite file (the embedded default).
///
/// Beyond the trait's contract: `update_key` never changes a key's identity (`account_id`,
/// `region`, `arn`, `created_at`); the record it returns carries the stored ones.
#[derive(Debug)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteStore {
    /// Opens the store at `path`, creating the file if it is missing, and brings its schema
    /// up to date. Fails with [`SchemaTooNew`] (as the source of [`StoreError::Backend`]) if
    /// a newer Trent has migrated the file.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let writer = connect_writer(
            base.clone()
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal),
        )
        .await?;
        migrate(&writer).await?;
        // The writer has put the file in WAL mode (a persistent setting); readers must not
        // try to change the journal mode, which needs an exclusive lock.
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(0)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(backend)?;
        Ok(Self { writer, readers })
    }

    /// Closes every connection (SQLite checkpoints the WAL into the main file when the last
    /// one closes). Dropping the store instead loses nothing: every acknowledged write is
    /// already durable in the WAL.
    pub async fn close(self) {
        self.readers.close().await;
        self.writer.close().await;
    }

    /// Every meta entry, by name (for copying a deployment).
    pub async fn all_meta(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = sqlx::query("SELECT name, value FROM meta ORDER BY name")
            .fetch_all(&self.readers)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| Ok((column(r, "name")?, column(r, "value")?)))
            .collect()
    }

    /// Every key id of every account and region, in order (for copying a deployment).
    pub async fn all_key_ids(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar("SELECT key_id FROM keys ORDER BY key_id")
            .fetch_all(&self.readers)
            .await
            .map_err(backend)
    }

    /// Every alias of every account and region (for copying a deployment).
    pub async fn all_aliases(&self) -> Result<Vec<AliasRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ALIAS_COLUMNS} FROM aliases ORDER BY account_id, region, alias_name"
        ))
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?
        .iter()
        .map(alias_from_row)
        .collect()
    }

    /// Counts of (meta entries, keys, materials, aliases, access keys).
    pub async fn counts(&self) -> Result<[i64; 5], StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM meta), (SELECT COUNT(*) FROM keys), \
             (SELECT COUNT(*) FROM key_materials), (SELECT COUNT(*) FROM aliases), \
             (SELECT COUNT(*) FROM access_keys)",
        )
        .fetch_one(&self.readers)
        .await
        .map_err(backend)?;
        let mut out = [0_i64; 5];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = row.try_get(i).map_err(backend)?;
        }
        Ok(out)
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)
    }
}

/// Connects the writer pool. Switching a new file to WAL mode needs an exclusive lock that
/// SQLite does not wait for (the busy timeout does not apply), so when several processes
/// open a new file at once all but one get `SQLITE_BUSY`: retry those for a while.
async fn connect_writer(options: SqliteConnectOptions) -> Result<SqlitePool, StoreError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(2);
    loop {
        match SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
        {
            Ok(pool) => return Ok(pool),
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                tracing::debug!("store file is locked by another opener, retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(backend(e)),
        }
    }
}

/// `SQLITE_BUSY` or one of its extended codes (<https://www.sqlite.org/rescode.html#busy>).
fn is_busy(e: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i32 = 5;
    match e {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| code & 0xff == SQLITE_BUSY),
        _ => false,
    }
}

/// Applies the migrations this file has not recorded yet. Each runs in one `BEGIN IMMEDIATE`
/// transaction that first claims its version in `schema_migrations`: a second process
/// opening the same file at the same moment waits for the lock, then finds the version
/// taken and skips it.
async fn migrate(writer: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query(CREATE_SCHEMA_MIGRATIONS)
        .execute(writer)
        .await
        .map_err(backend)?;
    let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(writer)
        .await
        .map_err(backend)?;
    if let Some(found) = found.filter(|v| *v > LATEST_VERSION) {
        return Err(StoreError::Backend(Box::new(SchemaTooNew {
            found,
            supported: LATEST_VERSION,
        })));
    }
    for migration in MIGRATIONS {
        let mut tx = writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let claimed = sqlx::query(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2) \
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(migration.version)
        .bind(now_millis())
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected()
            == 1;
        if !claimed {
            tx.rollback().await.map_err(backend)?;
            continue;
        }
        // Through `Executor` rather than `RawSql::execute`, whose future is not `Send` for
        // every lifetime, which would make `open` unusable from a spawned task.
        (&mut *tx)
            .execute(sqlx::raw_sql(migration.sql))
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied store migration"
        );
    }
    Ok(())
}

pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Maps a write's error: a uniqueness violation is `AlreadyExists`, anything else `Backend`.
fn write_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
            StoreError::AlreadyExists
        }
        _ => backend(e),
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

async fn insert_tags(
    tx: &mut Transaction<'static, Sqlite>,
    key_id: &str,
    tags: &[(String, String)],
) -> Result<(), StoreError> {
    for (position, (tag_key, tag_value)) in (0_i64..).zip(tags) {
        sqlx::query(
            "INSERT INTO key_tags (key_id, position, tag_key, tag_value) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(key_id)
        .bind(position)
        .bind(tag_key)
        .bind(tag_value)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// Inserts a key row and its tags (`AlreadyExists` if the key id is taken).
pub(super) async fn insert_key(
    tx: &mut Transaction<'static, Sqlite>,
    key: &KeyRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO keys (key_id, account_id, region, arn, version, created_at, \
         description, key_spec, key_usage, origin, state, deletion_date, \
         pending_deletion_window_days, current_material_id, multi_region, policy, mrk_id, \
         primary_region) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
         ?16, ?17, ?18)",
    )
    .bind(&key.key_id)
    .bind(&key.account_id)
    .bind(&key.region)
    .bind(&key.arn)
    .bind(key.version)
    .bind(key.created_at)
    .bind(&key.description)
    .bind(&key.key_spec)
    .bind(&key.key_usage)
    .bind(&key.origin)
    .bind(&key.state)
    .bind(key.deletion_date)
    .bind(key.pending_deletion_window_days.map(i64::from))
    .bind(key.current_material_id.as_deref().unwrap_or(""))
    .bind(i64::from(key.multi_region))
    .bind(&key.policy)
    .bind(&key.mrk_id)
    .bind(&key.primary_region)
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    insert_tags(tx, &key.key_id, &key.tags).await
}

/// Inserts one material version of a key as its `seq`-th.
pub(super) async fn insert_material(
    tx: &mut Transaction<'static, Sqlite>,
    material: &MaterialRecord,
    seq: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO key_materials (key_id, material_id, seq, created_at, sealed) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&material.key_id)
    .bind(&material.material_id)
    .bind(seq)
    .bind(material.created_at)
    .bind(&material.sealed)
    .execute(&mut **tx)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// `update_key` inside a transaction: nothing is written on an error (the caller drops
/// the transaction, which rolls it back).
pub(super) async fn update_key_in(
    tx: &mut Transaction<'static, Sqlite>,
    key: &KeyRecord,
) -> Result<KeyRecord, StoreError> {
    // The version check and the write are one statement: no other writer can slip in
    // between, here or (for the PostgreSQL backend) on another node.
    check_tags(&key.tags)?;
    let stored = sqlx::query(
        "UPDATE keys SET version = version + 1, description = ?1, key_spec = ?2, \
         key_usage = ?3, origin = ?4, state = ?5, deletion_date = ?6, \
         pending_deletion_window_days = ?7, current_material_id = ?8, multi_region = ?9, \
         policy = ?12, primary_region = ?13 WHERE key_id = ?10 AND version = ?11 \
         RETURNING account_id, region, arn, created_at, version, mrk_id",
    )
    .bind(&key.description)
    .bind(&key.key_spec)
    .bind(&key.key_usage)
    .bind(&key.origin)
    .bind(&key.state)
    .bind(key.deletion_date)
    .bind(key.pending_deletion_window_days.map(i64::from))
    .bind(key.current_material_id.as_deref().unwrap_or(""))
    .bind(i64::from(key.multi_region))
    .bind(&key.key_id)
    .bind(key.version)
    .bind(&key.policy)
    .bind(&key.primary_region)
    .fetch_optional(&mut **tx)
    .await
    .map_err(backend)?;
    let Some(stored) = stored else {
        let exists = sqlx::query("SELECT 1 FROM keys WHERE key_id = ?1")
            .bind(&key.key_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(backend)?
            .is_some();
        return Err(if exists {
            StoreError::Conflict
        } else {
            StoreError::NotFound
        });
    };
    let updated = KeyRecord {
        account_id: column(&stored, "account_id")?,
        region: column(&stored, "region")?,
        arn: column(&stored, "arn")?,
        created_at: column(&stored, "created_at")?,
        version: column(&stored, "version")?,
        mrk_id: column(&stored, "mrk_id")?,
        ..key.clone()
    };
    sqlx::query("DELETE FROM key_tags WHERE key_id = ?1")
        .bind(&key.key_id)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    insert_tags(tx, &key.key_id, &key.tags).await?;
    Ok(updated)
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt { what }
}

fn column<'r, T>(row: &'r SqliteRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(name).map_err(|e| match e {
        sqlx::Error::ColumnDecode { .. } => corrupt(format!("column {name}: {e}")),
        other => backend(other),
    })
}

fn key_from_row(row: &SqliteRow) -> Result<KeyRecord, StoreError> {
    let key_id: String = column(row, "key_id")?;
    let window: Option<i64> = column(row, "pending_deletion_window_days")?;
    let pending_deletion_window_days = window.map(i32::try_from).transpose().map_err(|_| {
        corrupt(format!(
            "key {key_id}: pending deletion window out of range"
        ))
    })?;
    let multi_region = match column::<i64>(row, "multi_region")? {
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
        deletion_date: column(row, "deletion_date")?,
        pending_deletion_window_days,
        // '' is "no material yet" (migration 0006).
        current_material_id: Some(column::<String>(row, "current_material_id")?)
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
fn keys_from_rows(rows: &[SqliteRow]) -> Result<Vec<KeyRecord>, StoreError> {
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

fn material_from_row(row: &SqliteRow) -> Result<MaterialRecord, StoreError> {
    Ok(MaterialRecord {
        key_id: column(row, "key_id")?,
        material_id: column(row, "material_id")?,
        created_at: column(row, "created_at")?,
        sealed: column(row, "sealed")?,
    })
}

fn alias_from_row(row: &SqliteRow) -> Result<AliasRecord, StoreError> {
    Ok(AliasRecord {
        account_id: column(row, "account_id")?,
        region: column(row, "region")?,
        alias_name: column(row, "alias_name")?,
        target_key_id: column(row, "target_key_id")?,
        created_at: column(row, "created_at")?,
        updated_at: column(row, "updated_at")?,
    })
}

fn access_key_from_row(row: &SqliteRow) -> Result<AccessKeyRecord, StoreError> {
    Ok(AccessKeyRecord {
        access_key_id: column(row, "access_key_id")?,
        account_id: column(row, "account_id")?,
        principal_arn: column(row, "principal_arn")?,
        sealed_secret: column(row, "sealed_secret")?,
        created_at: column(row, "created_at")?,
        status: column(row, "status")?,
    })
}

fn grant_from_row(row: &SqliteRow) -> Result<GrantRecord, StoreError> {
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
        operations: decode_operations(&column::<String>(row, "operations")?),
        constraint_equals: pairs("constraint_equals")?,
        constraint_subset: pairs("constraint_subset")?,
        created_at: column(row, "created_at")?,
        grant_id,
    })
}

const ALIAS_COLUMNS: &str = "account_id, region, alias_name, target_key_id, created_at, updated_at";
const ACCESS_KEY_COLUMNS: &str =
    "access_key_id, account_id, principal_arn, sealed_secret, created_at, status";

#[async_trait]
impl Store for SqliteStore {
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM meta WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.readers)
            .await
            .map_err(backend)
    }

    async fn init_meta(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO meta (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM meta WHERE name = ?1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(stored)
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
        let mut tx = self.begin_write().await?;
        insert_key(&mut tx, key).await?;
        if let Some(material) = material {
            insert_material(&mut tx, material, 1).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS}, t.tag_key, t.tag_value FROM keys AS k \
             LEFT JOIN key_tags AS t ON t.key_id = k.key_id \
             WHERE k.key_id = ?1 ORDER BY t.position"
        ))
        .bind(key_id)
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?;
        Ok(keys_from_rows(&rows)?.pop())
    }

    async fn update_key(&self, key: &KeyRecord) -> Result<KeyRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = update_key_in(&mut tx, key).await?;
        tx.commit().await.map_err(backend)?;
        Ok(updated)
    }

    async fn list_keys(
        &self,
        account_id: &str,
        region: &str,
        after_key_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        // Two statements rather than `(?3 IS NULL OR key_id > ?3)`, which keeps SQLite from
        // seeking the index to the page's first key.
        let after = if after_key_id.is_some() {
            "AND key_id > ?4"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS}, t.tag_key, t.tag_value \
             FROM (SELECT * FROM keys WHERE account_id = ?1 AND region = ?2 {after} \
                   ORDER BY key_id LIMIT ?3) AS k \
             LEFT JOIN key_tags AS t ON t.key_id = k.key_id \
             ORDER BY k.key_id, t.position"
        ))
        .bind(account_id)
        .bind(region)
        .bind(i64::from(limit))
        .bind(after_key_id)
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?;
        keys_from_rows(&rows)
    }

    async fn add_material(&self, material: &MaterialRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // The next sequence number is computed under the write lock, in the same statement.
        let inserted = sqlx::query(
            "INSERT INTO key_materials (key_id, material_id, seq, created_at, sealed) \
             SELECT ?1, ?2, COALESCE(MAX(seq), 0) + 1, ?3, ?4 \
             FROM key_materials WHERE key_id = ?1",
        )
        .bind(&material.key_id)
        .bind(&material.material_id)
        .bind(material.created_at)
        .bind(&material.sealed)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => tx.commit().await.map_err(backend),
            Err(sqlx::Error::Database(db)) if db.kind() == ErrorKind::ForeignKeyViolation => {
                Err(StoreError::NotFound)
            }
            Err(e) => Err(write_error(e)),
        }
    }

    async fn materials(&self, key_id: &str) -> Result<Vec<MaterialRecord>, StoreError> {
        sqlx::query(
            "SELECT key_id, material_id, created_at, sealed FROM key_materials \
             WHERE key_id = ?1 ORDER BY seq",
        )
        .bind(key_id)
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?
        .iter()
        .map(material_from_row)
        .collect()
    }

    async fn create_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO aliases ({ALIAS_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))
        .bind(&alias.account_id)
        .bind(&alias.region)
        .bind(&alias.alias_name)
        .bind(&alias.target_key_id)
        .bind(alias.created_at)
        .bind(alias.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
        tx.commit().await.map_err(backend)
    }

    async fn alias(
        &self,
        account_id: &str,
        region: &str,
        alias_name: &str,
    ) -> Result<Option<AliasRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ALIAS_COLUMNS} FROM aliases \
             WHERE account_id = ?1 AND region = ?2 AND alias_name = ?3"
        ))
        .bind(account_id)
        .bind(region)
        .bind(alias_name)
        .fetch_optional(&self.readers)
        .await
        .map_err(backend)?
        .as_ref()
        .map(alias_from_row)
        .transpose()
    }

    async fn update_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE aliases SET target_key_id = ?1, updated_at = ?2 \
             WHERE account_id = ?3 AND region = ?4 AND alias_name = ?5",
        )
        .bind(&alias.target_key_id)
        .bind(alias.updated_at)
        .bind(&alias.account_id)
        .bind(&alias.region)
        .bind(&alias.alias_name)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if updated == 0 {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(backend)
    }

    async fn delete_alias(
        &self,
        account_id: &str,
        region: &str,
        alias_name: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query(
            "DELETE FROM aliases WHERE account_id = ?1 AND region = ?2 AND alias_name = ?3",
        )
        .bind(account_id)
        .bind(region)
        .bind(alias_name)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if deleted == 0 {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(backend)
    }

    async fn list_aliases(
        &self,
        account_id: &str,
        region: &str,
        target_key_id: Option<&str>,
        after_alias_name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let target = if target_key_id.is_some() {
            "AND target_key_id = ?4"
        } else {
            ""
        };
        let after = if after_alias_name.is_some() {
            "AND alias_name > ?5"
        } else {
            ""
        };
        sqlx::query(&format!(
            "SELECT {ALIAS_COLUMNS} FROM aliases \
             WHERE account_id = ?1 AND region = ?2 {target} {after} \
             ORDER BY alias_name LIMIT ?3"
        ))
        .bind(account_id)
        .bind(region)
        .bind(i64::from(limit))
        .bind(target_key_id)
        .bind(after_alias_name)
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?
        .iter()
        .map(alias_from_row)
        .collect()
    }

    async fn put_access_key(&self, key: &AccessKeyRecord) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))
        .bind(&key.access_key_id)
        .bind(&key.account_id)
        .bind(&key.principal_arn)
        .bind(&key.sealed_secret)
        .bind(key.created_at)
        .bind(&key.status)
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
        tx.commit().await.map_err(backend)
    }

    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = ?1"
        ))
        .bind(access_key_id)
        .fetch_optional(&self.readers)
        .await
        .map_err(backend)?
        .as_ref()
        .map(access_key_from_row)
        .transpose()
    }

    async fn access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys ORDER BY access_key_id"
        ))
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?
        .iter()
        .map(access_key_from_row)
        .collect()
    }

    async fn create_grant(
        &self,
        grant: &GrantRecord,
        limits: GrantLimits,
    ) -> Result<CreateGrantOutcome, StoreError> {
        let operations = encode_operations(&grant.operations)?;
        // BEGIN IMMEDIATE holds SQLite's write lock from here to the commit: the checks
        // below and the insert are one step for every writer of the file.
        let mut tx = self.begin_write().await?;
        let key_exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM keys WHERE key_id = ?1")
            .bind(&grant.key_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if key_exists.is_none() {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        }
        if let Some(name) = &grant.name {
            let same_name = sqlx::query(&format!(
                "SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = ?1 AND name = ?2 \
                 ORDER BY created_at, grant_id"
            ))
            .bind(&grant.key_id)
            .bind(name)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
            for row in &same_name {
                let existing = grant_from_row(row)?;
                if existing.same_request(grant) {
                    tx.rollback().await.map_err(backend)?;
                    return Ok(CreateGrantOutcome::Existing(Box::new(existing)));
                }
            }
        }
        let (per_key, per_grantee): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN grantee_principal = ?2 THEN 1 ELSE 0 END), 0) \
             FROM grants WHERE key_id = ?1",
        )
        .bind(&grant.key_id)
        .bind(&grant.grantee_principal)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        if per_key >= i64::from(limits.per_key) {
            tx.rollback().await.map_err(backend)?;
            return Ok(CreateGrantOutcome::TooManyForKey);
        }
        if per_grantee >= i64::from(limits.per_grantee_per_key) {
            tx.rollback().await.map_err(backend)?;
            return Ok(CreateGrantOutcome::TooManyForGrantee);
        }
        sqlx::query(&format!(
            "INSERT INTO grants ({GRANT_COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
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
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
        tx.commit().await.map_err(backend)?;
        Ok(CreateGrantOutcome::Created)
    }

    async fn grant(&self, key_id: &str, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = ?1 AND grant_id = ?2"
        ))
        .bind(key_id)
        .bind(grant_id)
        .fetch_optional(&self.readers)
        .await
        .map_err(backend)?
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
        let grantee = if grantee_principal.is_some() {
            "AND grantee_principal = ?3"
        } else {
            ""
        };
        let after = if after_grant_id.is_some() {
            "AND grant_id > ?4"
        } else {
            ""
        };
        sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = ?1 {grantee} {after} \
             ORDER BY grant_id LIMIT ?2"
        ))
        .bind(key_id)
        .bind(i64::from(limit))
        .bind(grantee_principal)
        .bind(after_grant_id)
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?
        .iter()
        .map(grant_from_row)
        .collect()
    }

    async fn list_retirable_grants(
        &self,
        retiring_principal: &str,
        region: &str,
        after_grant_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        let after = if after_grant_id.is_some() {
            "AND g.grant_id > ?4"
        } else {
            ""
        };
        let columns = GRANT_COLUMNS
            .split(", ")
            .map(|c| format!("g.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        sqlx::query(&format!(
            "SELECT {columns} FROM grants g JOIN keys k ON k.key_id = g.key_id \
             WHERE g.retiring_principal = ?1 AND k.region = ?2 {after} \
             ORDER BY g.grant_id LIMIT ?3"
        ))
        .bind(retiring_principal)
        .bind(region)
        .bind(i64::from(limit))
        .bind(after_grant_id)
        .fetch_all(&self.readers)
        .await
        .map_err(backend)?
        .iter()
        .map(grant_from_row)
        .collect()
    }

    async fn delete_grant(&self, key_id: &str, grant_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM grants WHERE key_id = ?1 AND grant_id = ?2")
            .bind(key_id)
            .bind(grant_id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(backend)
    }

    /// One process owns the file's caches: nothing to announce.
    async fn subscribe(&self) -> Result<ChangeStream, StoreError> {
        Ok(ChangeStream::ended())
    }

    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        let taken = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_millis(ttl)))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected()
            == 1;
        tx.commit().await.map_err(backend)?;
        Ok(taken)
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let now = now_millis();
        let renewed = sqlx::query(
            "UPDATE leases SET expires_at = ?1 \
             WHERE name = ?2 AND holder = ?3 AND expires_at > ?4",
        )
        .bind(now.saturating_add(ttl_millis(ttl)))
        .bind(name)
        .bind(holder)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected()
            == 1;
        tx.commit().await.map_err(backend)?;
        Ok(renewed)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM leases WHERE name = ?1 AND holder = ?2")
            .bind(name)
            .bind(holder)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    // Keys over time (migration 0005): in `sqlite/time.rs`.

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

    async fn rotate_key(
        &self,
        key_version: i64,
        material: &MaterialRecord,
        rotation: &RotationRecord,
        next_rotation_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.time_rotate_key(key_version, material, rotation, next_rotation_at)
            .await
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

    async fn count_rotations(&self, key_id: &str, rotation_type: &str) -> Result<i64, StoreError> {
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
        self.time_delete_key(key_id, key_version).await
    }

    async fn record_key_usage(&self, usage: &[KeyUsageRecord]) -> Result<(), StoreError> {
        self.time_record_key_usage(usage).await
    }

    // Multi-Region keys (migration 0007): in `sqlite/multi_region.rs`.

    async fn multi_region_keys(&self, mrk_id: &str) -> Result<Vec<KeyRecord>, StoreError> {
        self.mrk_keys(mrk_id).await
    }

    async fn create_replica_key(
        &self,
        source_key_id: &str,
        source_version: i64,
        key: &KeyRecord,
        materials: &[MaterialRecord],
        rotations: &[RotationRecord],
    ) -> Result<i64, StoreError> {
        self.mrk_create_replica(source_key_id, source_version, key, materials, rotations)
            .await
    }

    async fn rotate_keys(
        &self,
        rotations: &[(i64, MaterialRecord, RotationRecord)],
        next_rotation_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.mrk_rotate(rotations, next_rotation_at).await
    }

    async fn update_keys(
        &self,
        keys: &[KeyRecord],
        schedule_from: &str,
        schedule_to: &str,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.mrk_update_keys(keys, schedule_from, schedule_to).await
    }

    async fn delete_key_and_update(
        &self,
        key_id: &str,
        key_version: i64,
        update: Option<&KeyRecord>,
    ) -> Result<(), StoreError> {
        self.mrk_delete_and_update(key_id, key_version, update)
            .await
    }

    async fn key_last_usage(&self, key_id: &str) -> Result<Option<KeyUsageRecord>, StoreError> {
        self.time_key_last_usage(key_id).await
    }
    async fn imported_materials(
        &self,
        key_id: &str,
    ) -> Result<Vec<ImportedMaterialRecord>, StoreError> {
        self.import_materials_of(key_id).await
    }

    async fn put_imported_material(
        &self,
        key: &KeyRecord,
        material: &ImportedMaterialRecord,
    ) -> Result<KeyRecord, StoreError> {
        self.import_put(key, material).await
    }

    async fn put_imported_materials(
        &self,
        writes: &[(KeyRecord, Vec<ImportedMaterialRecord>)],
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.import_put_many(writes).await
    }

    async fn create_imported_replica_key(
        &self,
        source_key_id: &str,
        source_version: i64,
        key: &KeyRecord,
        materials: &[ImportedMaterialRecord],
    ) -> Result<i64, StoreError> {
        self.import_create_replica(source_key_id, source_version, key, materials)
            .await
    }

    async fn import_expirations_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ImportedMaterialRecord>, StoreError> {
        self.import_expirations(now, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pragma(pool: &SqlitePool, name: &str) -> i64 {
        sqlx::query_scalar(&format!("PRAGMA {name}"))
            .fetch_one(pool)
            .await
            .unwrap()
    }

    /// The durability guarantee rests on these settings: pin them.
    #[tokio::test]
    async fn connections_are_durable_and_readers_read_only() {
        const FULL: i64 = 2;
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("trent.db"))
            .await
            .unwrap();
        assert_eq!(pragma(&store.writer, "synchronous").await, FULL);
        assert_eq!(pragma(&store.writer, "foreign_keys").await, 1);
        assert_eq!(pragma(&store.writer, "busy_timeout").await, 10_000);
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(pragma(&store.readers, "query_only").await, 1);
        assert_eq!(pragma(&store.readers, "foreign_keys").await, 1);
        let write = sqlx::query("INSERT INTO meta (name, value) VALUES ('x', x'00')")
            .execute(&store.readers)
            .await;
        assert!(write.is_err(), "a reader connection must not write");
        store.close().await;
    }
}
