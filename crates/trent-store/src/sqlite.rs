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
//! A connection of either pool is used without a ping first (sqlx's `test_before_acquire`):
//! it lives in this process and cannot go stale as a network connection can, and the ping
//! was a round trip to its worker thread before every statement.
//!
//! `synchronous=FULL` makes SQLite fsync the WAL at every commit, so a write that returned
//! `Ok` survives a crash or power loss (<https://www.sqlite.org/pragma.html#pragma_synchronous>).
//!
//! The store's logic is [`SqlStore`]'s; this file is only the SQLite [`Dialect`]: the
//! connections, the migration runner, and no change feed (one process owns the file).

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Executor, Sqlite, Transaction};

use crate::migrations::{check_not_too_new, CREATE_SCHEMA_MIGRATIONS, MIGRATIONS};
use crate::sql::Dialect;
use crate::store::{now_millis, SqlStore};
use crate::{Change, ChangeStream, StoreError};

/// How long a statement waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent readers; reads are rare (the key service caches), a few suffice.
const READERS: u32 = 4;
/// Readers read the file through a memory map of up to this many bytes
/// (<https://www.sqlite.org/mmap.html>) instead of a `pread` per page: a key read from the
/// store (a cache miss) among a million keys cost about a tenth of its CPU in those
/// system calls. Only reads use it; writes go through the WAL as before.
const READER_MMAP_BYTES: u64 = 1 << 30;

/// The [`Store`](crate::Store) on an SQLite file (the embedded default).
pub type SqliteStore = SqlStore<SqliteDb>;

/// The SQLite dialect (`Dialect`): the file's writer and reader pools.
#[derive(Debug)]
pub struct SqliteDb {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqlStore<SqliteDb> {
    /// Opens the store at `path`, creating the file if it is missing, and brings its schema
    /// up to date. Fails with [`SchemaTooNew`](crate::SchemaTooNew) (as the source of
    /// [`StoreError::Backend`]) if a newer Trent has migrated the file.
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
            .test_before_acquire(false)
            .connect_with(
                base.pragma("query_only", "ON")
                    .pragma("mmap_size", READER_MMAP_BYTES.to_string()),
            )
            .await
            .map_err(backend)?;
        Ok(Self {
            db: SqliteDb { writer, readers },
        })
    }

    /// Closes every connection (SQLite checkpoints the WAL into the main file when the last
    /// one closes). Dropping the store instead loses nothing: every acknowledged write is
    /// already durable in the WAL.
    pub async fn close(self) {
        self.db.readers.close().await;
        self.db.writer.close().await;
    }
}

#[async_trait]
impl Dialect for SqliteDb {
    type Tx = Transaction<'static, Sqlite>;
    type Reader = SqlitePool;
    type Row = SqliteRow;

    /// SQLite's default BINARY collation is already byte order.
    const COLLATE: &'static str = "";
    /// `BEGIN IMMEDIATE` holds SQLite's write lock from the start of every write
    /// transaction to its end: every writer of the file is serialized already.
    const FOR_UPDATE: &'static str = "";
    /// One process owns the file: its clock is the only one.
    const NOW_MS: Option<&'static str> = None;

    fn reader(&self) -> &SqlitePool {
        &self.readers
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)
    }

    fn backend(e: sqlx::Error) -> StoreError {
        backend(e)
    }

    /// One process owns the file's caches: nothing to announce.
    async fn notify(_tx: &mut Self::Tx, _change: &Change) -> Result<(), StoreError> {
        Ok(())
    }

    /// The write lock taken at `BEGIN IMMEDIATE` covers every row.
    async fn lock_keys(_tx: &mut Self::Tx, _key_ids: &[&str]) -> Result<(), StoreError> {
        Ok(())
    }

    /// One process owns the file's caches: nothing to announce.
    async fn subscribe(&self) -> Result<ChangeStream, StoreError> {
        Ok(ChangeStream::ended())
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
            .test_before_acquire(false)
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
    check_not_too_new(found)?;
    for migration in MIGRATIONS {
        let mut tx = writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let claimed = sqlx::query(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2) \
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
        migration.log_applied();
    }
    Ok(())
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// A consistent copy of a live SQLite store (`trent backup`): `VACUUM INTO` on a read-only
/// connection, which reads one snapshot (the WAL's committed transactions included) while
/// the server goes on writing. `into` must not exist. Returns the store's root key check
/// (the `meta` value a root key must open), if it has one.
pub async fn snapshot_sqlite(db: &Path, into: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    use sqlx::{ConnectOptions, Connection, Row};
    let options = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .busy_timeout(BUSY_TIMEOUT);
    let mut conn = options
        .connect()
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
    let into_text = into
        .to_str()
        .ok_or_else(|| StoreError::Backend("the snapshot's path is not UTF-8".into()))?;
    sqlx::query("VACUUM INTO ?")
        .bind(into_text)
        .execute(&mut conn)
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
    conn.close().await.ok();
    // The root key check, read from the copy (what the backup holds).
    let mut copy = SqliteConnectOptions::new()
        .filename(into)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
    let row = sqlx::query("SELECT value FROM meta WHERE name = 'root_key_check'")
        .fetch_optional(&mut copy)
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
    copy.close().await.ok();
    Ok(row.map(|r| r.get::<Vec<u8>, _>("value")))
}

/// `PRAGMA integrity_check` of an SQLite file (`trent restore`): `Err` with SQLite's
/// report if it is damaged or not a database.
pub async fn check_sqlite(db: &Path) -> Result<(), String> {
    use sqlx::{ConnectOptions, Connection, Row};
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .read_only(true)
        .connect()
        .await
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    let rows = sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| format!("{}: {e}", db.display()))?;
    conn.close().await.ok();
    let report: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
    if report == ["ok"] {
        Ok(())
    } else {
        Err(format!(
            "{} is damaged: {}",
            db.display(),
            report.join("; ")
        ))
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
        assert_eq!(pragma(&store.db.writer, "synchronous").await, FULL);
        assert_eq!(pragma(&store.db.writer, "foreign_keys").await, 1);
        assert_eq!(pragma(&store.db.writer, "busy_timeout").await, 10_000);
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&store.db.writer)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert_eq!(pragma(&store.db.readers, "query_only").await, 1);
        assert_eq!(pragma(&store.db.readers, "foreign_keys").await, 1);
        let write = sqlx::query("INSERT INTO meta (name, value) VALUES ('x', x'00')")
            .execute(&store.db.readers)
            .await;
        assert!(write.is_err(), "a reader connection must not write");
        store.close().await;
    }
}
