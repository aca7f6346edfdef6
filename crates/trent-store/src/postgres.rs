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
//!
//! The store's logic is [`SqlStore`]'s; this file is only the PostgreSQL [`Dialect`]: the
//! pool, the migration runner, the change feed, row locks and error sorting.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Executor, Postgres, Transaction};
use tokio::sync::broadcast;

use crate::migrations::{check_not_too_new, CREATE_SCHEMA_MIGRATIONS, MIGRATIONS};
use crate::sql::Dialect;
use crate::store::SqlStore;
use crate::{Change, ChangeStream, StoreError};

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

/// The [`Store`](crate::Store) on a PostgreSQL database, shared by any number of nodes.
pub type PostgresStore = SqlStore<PostgresDb>;

/// The presence lock of the nodes of a store (per schema: deployments, or tests, may share
/// a database in several schemas).
const TRY_PRESENCE_SHARED: &str = "SELECT pg_try_advisory_lock_shared(hashtextextended(\
     'trent-nodes:' || coalesce(current_schema(), ''), 0))";
const TRY_PRESENCE_EXCLUSIVE: &str = "SELECT pg_try_advisory_lock(hashtextextended(\
     'trent-nodes:' || coalesce(current_schema(), ''), 0))";

/// A hold on the presence lock (see [`PostgresStore::announce_node`]): released when
/// dropped, as its connection closes.
pub struct NodePresence(#[allow(dead_code)] sqlx::PgConnection);

impl std::fmt::Debug for NodePresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodePresence")
    }
}

/// The PostgreSQL dialect (`Dialect`): the pool and the change feed's listener.
pub struct PostgresDb {
    pool: PgPool,
    changes: broadcast::Sender<Change>,
    listener: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for PostgresDb {
    // The connect options hold the password: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        // Ends the feed: subscribers see the stream end.
        self.listener.abort();
    }
}

impl SqlStore<PostgresDb> {
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
            db: PostgresDb {
                pool,
                changes,
                listener,
            },
        })
    }

    /// This node's presence in the database: a shared session-level advisory lock, on a
    /// connection of its own, held while the value lives (and no longer than the process:
    /// the connection closes with it). [`StoreError::Conflict`] while something holds the
    /// database exclusively ([`PostgresStore::exclude_nodes`]: a root key migration).
    pub async fn announce_node(&self) -> Result<NodePresence, StoreError> {
        self.presence(TRY_PRESENCE_SHARED)
            .await?
            .ok_or(StoreError::Conflict)
    }

    /// The database to itself: the presence lock taken exclusively, held while the value
    /// lives; `None` while a node runs (holds its presence), whatever its audit trail or
    /// data directory.
    pub async fn exclude_nodes(&self) -> Result<Option<NodePresence>, StoreError> {
        self.presence(TRY_PRESENCE_EXCLUSIVE).await
    }

    async fn presence(&self, query: &str) -> Result<Option<NodePresence>, StoreError> {
        let mut conn = self.db.pool.acquire().await.map_err(backend)?.detach();
        let (taken,): (bool,) = sqlx::query_as(query)
            .fetch_one(&mut conn)
            .await
            .map_err(backend)?;
        Ok(taken.then_some(NodePresence(conn)))
    }

    /// Closes every connection.
    pub async fn close(self) {
        self.db.listener.abort();
        self.db.pool.close().await;
    }
}

#[async_trait]
impl Dialect for PostgresDb {
    type Tx = Transaction<'static, Postgres>;
    type Reader = PgPool;
    type Row = PgRow;

    /// Byte order of UTF-8, as SQLite's BINARY collation orders text, whatever the
    /// database's default collation is.
    const COLLATE: &'static str = " COLLATE \"C\"";
    /// Under READ COMMITTED, the key's row lock is what serializes its writers across
    /// nodes.
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const NOW_MS: Option<&'static str> = Some(NOW_MS);

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(backend)
    }

    fn backend(e: sqlx::Error) -> StoreError {
        backend(e)
    }

    /// PostgreSQL delivers the notification when, and only if, the transaction commits.
    async fn notify(tx: &mut Self::Tx, change: &Change) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(change.encode())
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Locks the rows of these keys (those that exist) in key id order (byte order).
    async fn lock_keys(tx: &mut Self::Tx, key_ids: &[&str]) -> Result<(), StoreError> {
        let ids: Vec<String> = key_ids.iter().map(|k| (*k).to_owned()).collect();
        sqlx::query(
            "SELECT key_id FROM keys WHERE key_id = ANY($1) ORDER BY key_id COLLATE \"C\" \
             FOR UPDATE",
        )
        .bind(&ids)
        .fetch_all(&mut **tx)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn subscribe(&self) -> Result<ChangeStream, StoreError> {
        Ok(ChangeStream::new(self.changes.subscribe()))
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
    check_not_too_new(found)?;
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
        migration.log_applied();
    }
    tx.commit().await.map_err(backend)
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
