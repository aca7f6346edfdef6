//! The multi-node backend: one PostgreSQL database shared by every `trent` node.
//!
//! Correctness rests on the database alone, never on in-process locks: the version check of
//! an update is part of its `UPDATE ... WHERE version = $n` (under READ COMMITTED a
//! concurrent writer of the same row blocks, then re-evaluates the condition against the
//! committed row and matches nothing), uniqueness is the schema's, and the migration runner
//! serializes nodes starting at once with a transaction-scoped advisory lock
//! (<https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS>).
//!
//! Every write transaction also sends a `NOTIFY` naming what it changed; PostgreSQL
//! delivers it when, and only if, the transaction commits
//! (<https://www.postgresql.org/docs/current/sql-notify.html>). One dedicated `LISTEN`
//! connection per store feeds [`Store::subscribe`]; after losing it the store reconnects
//! and announces [`Change::All`], since notifications sent meanwhile are lost.
//!
//! Text is ordered with `COLLATE "C"` (byte order of UTF-8), as SQLite's BINARY collation
//! orders it, whatever the database's default collation is.
//!
//! TLS: the URL's `sslmode` is honoured (`require`, `verify-ca`, `verify-full`, with
//! `sslrootcert`), through rustls.

mod import;
mod multi_region;
mod time;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::error::ErrorKind;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Executor, Postgres, Row, Transaction};
use tokio::sync::broadcast;

use crate::grants::{
    decode_operations, decode_pairs, encode_operations, encode_pairs, GRANT_COLUMNS,
};
use crate::migrations::{SchemaTooNew, CREATE_SCHEMA_MIGRATIONS, LATEST_VERSION, MIGRATIONS};
use crate::sqlite::{check_tags, invalid};
use crate::{
    ttl_millis, AccessKeyRecord, AliasRecord, Change, ChangeStream, CreateGrantOutcome,
    GrantLimits, GrantRecord, ImportedMaterialRecord, KeyRecord, KeyUsageRecord,
    MaterialHistoryEntry, MaterialRecord, RotationRecord, RotationSchedule, Store, StoreError,
};

/// The channel of the change feed.
const CHANNEL: &str = "trent_changes";
/// The advisory lock id the migration runner takes ("trentmig" in ASCII).
const MIGRATION_LOCK: i64 = 0x7472_656e_746d_6967;
/// Connections per node: requests that reach the store are few (the hot path is cached),
/// and PostgreSQL's default `max_connections` (100) must serve several nodes.
const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a connection before failing with [`StoreError::Timeout`]
/// (also how long it waits while the database is down).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Changes buffered per subscriber before it is told to forget everything.
const FEED_CAPACITY: usize = 4096;
/// The database server's clock in Unix milliseconds: leases expire by one clock only.
const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

const KEY_COLUMNS: &str = "k.key_id, k.account_id, k.region, k.arn, k.version, k.created_at, \
     k.description, k.key_spec, k.key_usage, k.origin, k.state, k.deletion_date, \
     k.pending_deletion_window_days, k.current_material_id, k.multi_region, k.policy, \
     k.mrk_id, k.primary_region";
const ALIAS_COLUMNS: &str = "account_id, region, alias_name, target_key_id, created_at, updated_at";
const ACCESS_KEY_COLUMNS: &str =
    "access_key_id, account_id, principal_arn, sealed_secret, created_at, status";

/// The [`Store`] on a PostgreSQL database, shared by any number of nodes.
pub struct PostgresStore {
    pool: PgPool,
    changes: broadcast::Sender<Change>,
    listener: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PostgresStore {
    // The connect options hold the password: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Ends the feed: subscribers see the stream end.
        self.listener.abort();
    }
}

impl PostgresStore {
    /// Connects to `postgres://user:password@host:port/database?sslmode=...`, brings the
    /// schema up to date and starts listening for changes.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(backend)?;
        Self::open(options).await
    }

    /// As [`PostgresStore::connect`], with options built by the caller (e.g. a
    /// `search_path` to keep a deployment in its own schema).
    pub async fn open(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection broken while idle fails one statement (reported as
            // `Unavailable`) and is discarded; checking each one first would cost a round
            // trip per request.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(backend)?;
        migrate(&pool).await?;
        // Listening before `open` returns: nothing can be cached before it, so nothing a
        // subscriber holds can miss its invalidation.
        let listener = connect_listener(&pool).await.map_err(backend)?;
        let (changes, _) = broadcast::channel(FEED_CAPACITY);
        let listener = tokio::spawn(listen(pool.clone(), listener, changes.clone()));
        Ok(Self {
            pool,
            changes,
            listener,
        })
    }

    /// Closes every connection.
    pub async fn close(self) {
        self.listener.abort();
        self.pool.close().await;
    }

    /// Whether the database holds no Trent data at all (no meta, key, alias or access
    /// key): the only kind of target `trent migrate-store` writes into.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let any: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM meta) OR EXISTS (SELECT 1 FROM keys) \
             OR EXISTS (SELECT 1 FROM aliases) OR EXISTS (SELECT 1 FROM access_keys)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(!any)
    }

    /// Counts of (meta entries, keys, materials, aliases, access keys), for verifying a copy.
    pub async fn counts(&self) -> Result<[i64; 5], StoreError> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM meta), (SELECT COUNT(*) FROM keys), \
             (SELECT COUNT(*) FROM key_materials), (SELECT COUNT(*) FROM aliases), \
             (SELECT COUNT(*) FROM access_keys)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        let mut out = [0_i64; 5];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = row.try_get(i).map_err(backend)?;
        }
        Ok(out)
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(backend)
    }
}

async fn connect_listener(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Forwards notifications to subscribers; on any loss of the connection, reconnects
/// (backing off while the database is down) and then tells subscribers to forget
/// everything, since what was sent in between is lost.
async fn listen(pool: PgPool, mut listener: PgListener, changes: broadcast::Sender<Change>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                // No subscriber is not an error.
                let _ = changes.send(Change::decode(notification.payload()));
                continue;
            }
            Ok(None) => tracing::warn!("lost the change-feed connection to PostgreSQL"),
            Err(e) => tracing::warn!(error = %e, "change-feed connection to PostgreSQL failed"),
        }
        let _ = changes.send(Change::All);
        let mut pause = Duration::from_millis(20);
        listener = loop {
            match connect_listener(&pool).await {
                Ok(l) => break l,
                Err(e) => {
                    tracing::debug!(error = %e, "reconnecting the change feed");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
            }
        };
        tracing::info!("change feed reconnected to PostgreSQL");
        let _ = changes.send(Change::All);
    }
}

/// Applies the migrations the database has not recorded yet, all in one transaction
/// under an advisory lock: nodes starting at once wait for the first, then find nothing
/// left to do. PostgreSQL's DDL is transactional, so a failed migration leaves nothing.
async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    (&mut *tx)
        .execute(CREATE_SCHEMA_MIGRATIONS)
        .await
        .map_err(backend)?;
    let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
    if let Some(found) = found.filter(|v| *v > LATEST_VERSION) {
        return Err(StoreError::Backend(Box::new(SchemaTooNew {
            found,
            supported: LATEST_VERSION,
        })));
    }
    let applied = found.unwrap_or(0);
    for migration in MIGRATIONS.iter().filter(|m| m.version > applied) {
        (&mut *tx)
            .execute(sqlx::raw_sql(migration.sql))
            .await
            .map_err(backend)?;
        sqlx::query(&format!(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, {NOW_MS})"
        ))
        .bind(migration.version)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied store migration"
        );
    }
    tx.commit().await.map_err(backend)
}

/// Announces `change` to every node when (and only if) the transaction commits.
async fn notify(
    tx: &mut Transaction<'static, Postgres>,
    change: &Change,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(change.encode())
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}

/// Sorts a database error: lost or refused connections are `Unavailable`, no connection
/// in time is `Timeout`, anything else `Backend`.
fn backend(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut => StoreError::Timeout(Box::new(e)),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Box::new(e)),
        sqlx::Error::Database(db) if db.code().is_some_and(|c| is_unavailable_state(&c)) => {
            StoreError::Unavailable(Box::new(e))
        }
        _ => StoreError::Backend(Box::new(e)),
    }
}

/// SQLSTATEs meaning "the server is not serving you now": class 08 (connection
/// exception), 57P01-57P03 (shutting down, crashed, starting up), 53300 (too many
/// connections) (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).
fn is_unavailable_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// A uniqueness violation is `AlreadyExists`, anything else as [`backend`].
fn write_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => {
            StoreError::AlreadyExists
        }
        _ => backend(e),
    }
}

/// Inserts a key row and its tags (`AlreadyExists` if the key id is taken), announcing it.
pub(super) async fn insert_key(
    tx: &mut Transaction<'static, Postgres>,
    key: &KeyRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO keys (key_id, account_id, region, arn, version, created_at, \
         description, key_spec, key_usage, origin, state, deletion_date, \
         pending_deletion_window_days, current_material_id, multi_region, policy, mrk_id, \
         primary_region) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
         $16, $17, $18)",
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
    insert_tags(tx, &key.key_id, &key.tags).await?;
    notify(tx, &Change::Key(key.key_id.clone())).await
}

/// Inserts one material version of a key as its `seq`-th.
pub(super) async fn insert_material(
    tx: &mut Transaction<'static, Postgres>,
    material: &MaterialRecord,
    seq: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO key_materials (key_id, material_id, seq, created_at, sealed) \
         VALUES ($1, $2, $3, $4, $5)",
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
    tx: &mut Transaction<'static, Postgres>,
    key: &KeyRecord,
) -> Result<KeyRecord, StoreError> {
    check_tags(&key.tags)?;
    let stored = sqlx::query(
        "UPDATE keys SET version = version + 1, description = $1, key_spec = $2, \
         key_usage = $3, origin = $4, state = $5, deletion_date = $6, \
         pending_deletion_window_days = $7, current_material_id = $8, multi_region = $9, \
         policy = $12, primary_region = $13 WHERE key_id = $10 AND version = $11 \
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
        let exists = sqlx::query("SELECT 1 FROM keys WHERE key_id = $1")
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
    sqlx::query("DELETE FROM key_tags WHERE key_id = $1")
        .bind(&key.key_id)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    insert_tags(tx, &key.key_id, &key.tags).await?;
    notify(tx, &Change::Key(key.key_id.clone())).await?;
    Ok(updated)
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt { what }
}

fn column<'r, T>(row: &'r PgRow, name: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(name).map_err(|e| match e {
        sqlx::Error::ColumnDecode { .. } => corrupt(format!("column {name}: {e}")),
        other => backend(other),
    })
}

fn key_from_row(row: &PgRow) -> Result<KeyRecord, StoreError> {
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

/// Folds rows of keys left-joined with their tags (ordered by key, then tag position).
fn keys_from_rows(rows: &[PgRow]) -> Result<Vec<KeyRecord>, StoreError> {
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

fn material_from_row(row: &PgRow) -> Result<MaterialRecord, StoreError> {
    Ok(MaterialRecord {
        key_id: column(row, "key_id")?,
        material_id: column(row, "material_id")?,
        created_at: column(row, "created_at")?,
        sealed: column(row, "sealed")?,
    })
}

fn alias_from_row(row: &PgRow) -> Result<AliasRecord, StoreError> {
    Ok(AliasRecord {
        account_id: column(row, "account_id")?,
        region: column(row, "region")?,
        alias_name: column(row, "alias_name")?,
        target_key_id: column(row, "target_key_id")?,
        created_at: column(row, "created_at")?,
        updated_at: column(row, "updated_at")?,
    })
}

fn access_key_from_row(row: &PgRow) -> Result<AccessKeyRecord, StoreError> {
    Ok(AccessKeyRecord {
        access_key_id: column(row, "access_key_id")?,
        account_id: column(row, "account_id")?,
        principal_arn: column(row, "principal_arn")?,
        sealed_secret: column(row, "sealed_secret")?,
        created_at: column(row, "created_at")?,
        status: column(row, "status")?,
    })
}

async fn insert_tags(
    tx: &mut Transaction<'static, Postgres>,
    key_id: &str,
    tags: &[(String, String)],
) -> Result<(), StoreError> {
    for (position, (tag_key, tag_value)) in (0_i64..).zip(tags) {
        sqlx::query(
            "INSERT INTO key_tags (key_id, position, tag_key, tag_value) VALUES ($1, $2, $3, $4)",
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

fn grant_from_row(row: &PgRow) -> Result<GrantRecord, StoreError> {
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

fn alias_change(account_id: &str, region: &str, alias_name: &str) -> Change {
    Change::Alias {
        account_id: account_id.to_owned(),
        region: region.to_owned(),
        alias_name: alias_name.to_owned(),
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query_scalar("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn init_meta(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        // A racing insert of the same name waits for the first to commit, then does
        // nothing; the SELECT (a new snapshot under READ COMMITTED) sees the winner's.
        sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        sqlx::query_scalar("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
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
        let mut tx = self.begin().await?;
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
             WHERE k.key_id = $1 ORDER BY t.position"
        ))
        .bind(key_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(keys_from_rows(&rows)?.pop())
    }

    async fn update_key(&self, key: &KeyRecord) -> Result<KeyRecord, StoreError> {
        let mut tx = self.begin().await?;
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
        let after = if after_key_id.is_some() {
            "AND key_id COLLATE \"C\" > $4"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {KEY_COLUMNS}, t.tag_key, t.tag_value \
             FROM (SELECT * FROM keys WHERE account_id = $1 AND region = $2 {after} \
                   ORDER BY key_id COLLATE \"C\" LIMIT $3) AS k \
             LEFT JOIN key_tags AS t ON t.key_id = k.key_id \
             ORDER BY k.key_id COLLATE \"C\", t.position"
        );
        let mut query = sqlx::query(&sql)
            .bind(account_id)
            .bind(region)
            .bind(i64::from(limit));
        if let Some(after) = after_key_id {
            query = query.bind(after);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(backend)?;
        keys_from_rows(&rows)
    }

    async fn add_material(&self, material: &MaterialRecord) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // Locking the key row serializes additions to one key, so that two of them never
        // compute the same next sequence number.
        let exists = sqlx::query("SELECT 1 FROM keys WHERE key_id = $1 FOR UPDATE")
            .bind(&material.key_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?
            .is_some();
        if !exists {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO key_materials (key_id, material_id, seq, created_at, sealed) \
             SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4 \
             FROM key_materials WHERE key_id = $1",
        )
        .bind(&material.key_id)
        .bind(&material.material_id)
        .bind(material.created_at)
        .bind(&material.sealed)
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
        notify(&mut tx, &Change::Key(material.key_id.clone())).await?;
        tx.commit().await.map_err(backend)
    }

    async fn materials(&self, key_id: &str) -> Result<Vec<MaterialRecord>, StoreError> {
        sqlx::query(
            "SELECT key_id, material_id, created_at, sealed FROM key_materials \
             WHERE key_id = $1 ORDER BY seq",
        )
        .bind(key_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(material_from_row)
        .collect()
    }

    async fn create_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO aliases ({ALIAS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
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
        let change = alias_change(&alias.account_id, &alias.region, &alias.alias_name);
        notify(&mut tx, &change).await?;
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
             WHERE account_id = $1 AND region = $2 AND alias_name = $3"
        ))
        .bind(account_id)
        .bind(region)
        .bind(alias_name)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(alias_from_row)
        .transpose()
    }

    async fn update_alias(&self, alias: &AliasRecord) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE aliases SET target_key_id = $1, updated_at = $2 \
             WHERE account_id = $3 AND region = $4 AND alias_name = $5",
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
        let change = alias_change(&alias.account_id, &alias.region, &alias.alias_name);
        notify(&mut tx, &change).await?;
        tx.commit().await.map_err(backend)
    }

    async fn delete_alias(
        &self,
        account_id: &str,
        region: &str,
        alias_name: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query(
            "DELETE FROM aliases WHERE account_id = $1 AND region = $2 AND alias_name = $3",
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
        notify(&mut tx, &alias_change(account_id, region, alias_name)).await?;
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
        // Placeholders are numbered in the order their values are bound.
        let mut next = 4;
        let target = if target_key_id.is_some() {
            next += 1;
            "AND target_key_id = $4".to_owned()
        } else {
            String::new()
        };
        let after = if after_alias_name.is_some() {
            format!("AND alias_name COLLATE \"C\" > ${next}")
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {ALIAS_COLUMNS} FROM aliases \
             WHERE account_id = $1 AND region = $2 {target} {after} \
             ORDER BY alias_name COLLATE \"C\" LIMIT $3"
        );
        let mut query = sqlx::query(&sql)
            .bind(account_id)
            .bind(region)
            .bind(i64::from(limit));
        if let Some(target) = target_key_id {
            query = query.bind(target);
        }
        if let Some(after) = after_alias_name {
            query = query.bind(after);
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(alias_from_row)
            .collect()
    }

    async fn put_access_key(&self, key: &AccessKeyRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO access_keys ({ACCESS_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(&key.access_key_id)
        .bind(&key.account_id)
        .bind(&key.principal_arn)
        .bind(&key.sealed_secret)
        .bind(key.created_at)
        .bind(&key.status)
        .execute(&self.pool)
        .await
        .map_err(write_error)?;
        Ok(())
    }

    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys WHERE access_key_id = $1"
        ))
        .bind(access_key_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .as_ref()
        .map(access_key_from_row)
        .transpose()
    }

    async fn access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ACCESS_KEY_COLUMNS} FROM access_keys ORDER BY access_key_id COLLATE \"C\""
        ))
        .fetch_all(&self.pool)
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
        let mut tx = self.begin().await?;
        // The key's row lock serializes every CreateGrant on this key across nodes, so the
        // name and quota checks below and the insert are one step.
        let key_exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM keys WHERE key_id = $1 FOR UPDATE")
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
                "SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = $1 AND name = $2 \
                 ORDER BY created_at, grant_id COLLATE \"C\""
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
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN grantee_principal = $2 THEN 1 ELSE 0 END), 0)::BIGINT \
             FROM grants WHERE key_id = $1",
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
        .execute(&mut *tx)
        .await
        .map_err(write_error)?;
        notify(&mut tx, &Change::Grants(grant.key_id.clone())).await?;
        tx.commit().await.map_err(backend)?;
        Ok(CreateGrantOutcome::Created)
    }

    async fn grant(&self, key_id: &str, grant_id: &str) -> Result<Option<GrantRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = $1 AND grant_id = $2"
        ))
        .bind(key_id)
        .bind(grant_id)
        .fetch_optional(&self.pool)
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
        // Placeholders are numbered in the order their values are bound.
        let mut next = 3;
        let grantee = if grantee_principal.is_some() {
            next += 1;
            "AND grantee_principal = $3".to_owned()
        } else {
            String::new()
        };
        let after = if after_grant_id.is_some() {
            format!("AND grant_id COLLATE \"C\" > ${next}")
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE key_id = $1 {grantee} {after} \
             ORDER BY grant_id COLLATE \"C\" LIMIT $2"
        );
        let mut query = sqlx::query(&sql).bind(key_id).bind(i64::from(limit));
        if let Some(g) = grantee_principal {
            query = query.bind(g);
        }
        if let Some(a) = after_grant_id {
            query = query.bind(a);
        }
        query
            .fetch_all(&self.pool)
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
            "AND g.grant_id COLLATE \"C\" > $4"
        } else {
            ""
        };
        let columns = GRANT_COLUMNS
            .split(", ")
            .map(|c| format!("g.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM grants g JOIN keys k ON k.key_id = g.key_id \
             WHERE g.retiring_principal = $1 AND k.region = $2 {after} \
             ORDER BY g.grant_id COLLATE \"C\" LIMIT $3"
        );
        let mut query = sqlx::query(&sql)
            .bind(retiring_principal)
            .bind(region)
            .bind(i64::from(limit));
        if let Some(a) = after_grant_id {
            query = query.bind(a);
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(grant_from_row)
            .collect()
    }

    async fn delete_grant(&self, key_id: &str, grant_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM grants WHERE key_id = $1 AND grant_id = $2")
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
        notify(&mut tx, &Change::Grants(key_id.to_owned())).await?;
        tx.commit().await.map_err(backend)
    }

    async fn subscribe(&self) -> Result<ChangeStream, StoreError> {
        Ok(ChangeStream::new(self.changes.subscribe()))
    }

    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        // One statement: a concurrent acquirer of the same name waits on the row, then
        // re-checks the condition against the winner's row and takes nothing.
        let taken = sqlx::query(&format!(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, {NOW_MS} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, \
             expires_at = EXCLUDED.expires_at \
             WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= {NOW_MS}"
        ))
        .bind(name)
        .bind(holder)
        .bind(ttl_millis(ttl))
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected()
            == 1;
        Ok(taken)
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let renewed = sqlx::query(&format!(
            "UPDATE leases SET expires_at = {NOW_MS} + $1 \
             WHERE name = $2 AND holder = $3 AND expires_at > {NOW_MS}"
        ))
        .bind(ttl_millis(ttl))
        .bind(name)
        .bind(holder)
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected()
            == 1;
        Ok(renewed)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    // Keys over time (migration 0005): in `postgres/time.rs`.

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

    // Multi-Region keys (migration 0007): in `postgres/multi_region.rs`.

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
