//! The audit trail in PostgreSQL: the database every node of a cluster already shares.
//!
//! One table holds every node's chain, one row per entry keyed by `(chain, seq)`, with
//! the sealed line exactly as a segment file would hold it (digests are entries of the
//! chain, so they are rows too) and, for events, the event time (indexed, so that
//! `LookupEvents` reads the newest events of every node without reading everything;
//! LookupEvents' selective attributes, EventName, EventId, AccessKeyId and ResourceName,
//! have expression indexes over the stored record, so a filter is answered from its
//! index, even one that matches nothing). A
//! second table publishes each chain's audit signing public key, so that
//! `trent audit verify --database-url` can check every node's digests.
//!
//! The tables belong to the audit trail, not to the key store: they are created here
//! (`CREATE ... IF NOT EXISTS`, serialized by a transaction-scoped advisory lock), and
//! this crate does not depend on the store.
//!
//! **One writer per chain.** A node writes its own chain only, through one dedicated
//! connection holding a session-level advisory lock named after the chain (and the
//! schema), taken with `pg_try_advisory_lock`
//! (<https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS>): a
//! second live node configured with the same chain id is refused at start, and the lock
//! goes away with its holder (a node killed with SIGKILL releases it as soon as its
//! connection closes). Every append runs on that connection, so an append proves the
//! lock is still held; after the connection is lost the store reconnects and takes the
//! lock again before writing. The chain's row in `audit_chains` also names the public
//! key of the node that started it: a node with another signing key (another data
//! directory) is refused the chain even when its first owner is gone.
//!
//! **Durable before the response.** A batch is one `INSERT` statement, its own
//! transaction, on a connection with `synchronous_commit = on`: when it returns, the
//! batch is on the database's disk. A failed statement writes nothing; a connection lost
//! in the middle of a commit leaves the outcome unknown, and the writer then reads the
//! chain's end back before continuing (see [`crate::AuditLog`]).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Row};

use crate::chain::{parse_line, SealedEntry};
use crate::lookup::{AttributeKey, Query};
use crate::store::{AuditStore, EventKey, Location, StoredLine, Tail};
use crate::AuditError;

/// The advisory lock id the schema creation takes ("trentaud" in ASCII).
const SCHEMA_LOCK: i64 = 0x7472_656e_7461_7564;
/// Connections for reading (tail at start, `LookupEvents`, verification).
const READ_CONNECTIONS: u32 = 4;
/// How long anything waits for the database before failing: a request whose event
/// cannot be written within this time fails with `KMSInternalException`. The store's
/// (3 s) too: a write waits for its intent and then its outcome, one batch each, behind
/// the batch being written, so an outage must fail a request well inside a client's
/// timeout (the SDKs' is 30 s).
const TIMEOUT: Duration = Duration::from_secs(3);
/// How long a starting node waits for its chain's lock held by a connection that is
/// going away (its previous run, killed) before refusing to start.
const CLAIM_PATIENCE: Duration = Duration::from_secs(3);

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS audit_entries (\
        chain TEXT COLLATE \"C\" NOT NULL, \
        seq BIGINT NOT NULL, \
        kind TEXT NOT NULL, \
        event_time BIGINT, \
        line TEXT NOT NULL, \
        PRIMARY KEY (chain, seq))",
    "CREATE INDEX IF NOT EXISTS audit_entries_by_time \
        ON audit_entries (event_time, chain, seq) WHERE kind = 'event'",
    // Write-ahead intents, for LookupEvents' requests without an outcome.
    "CREATE INDEX IF NOT EXISTS audit_intents_by_time \
        ON audit_entries (event_time, chain, seq) WHERE kind = 'intent'",
    "CREATE TABLE IF NOT EXISTS audit_chains (\
        chain TEXT COLLATE \"C\" NOT NULL PRIMARY KEY, \
        public_key TEXT NOT NULL, \
        created_at BIGINT NOT NULL)",
    // Where `trent audit archive` left each chain's beginning (`crate::anchor`).
    "CREATE TABLE IF NOT EXISTS audit_anchors (\
        chain TEXT COLLATE \"C\" NOT NULL PRIMARY KEY, \
        anchor TEXT NOT NULL)",
    // LookupEvents' attributes, indexed (a filter that matches nothing must not read the
    // whole trail). The record of a stored line (`HASH BODY`: the body starts at the 66th
    // character), `NULL` for a line that is not JSON (a damaged row must not make inserts,
    // nor building these indexes, fail).
    "CREATE OR REPLACE FUNCTION trent_audit_record(line TEXT) RETURNS JSONB \
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $f$ \
        BEGIN RETURN substr(line, 66)::jsonb -> 'record'; \
        EXCEPTION WHEN others THEN RETURN NULL; END $f$",
    "CREATE INDEX IF NOT EXISTS audit_entries_by_event_name ON audit_entries \
        ((trent_audit_record(line) ->> 'eventName'), event_time, chain, seq) WHERE kind = 'event'",
    "CREATE INDEX IF NOT EXISTS audit_entries_by_event_id ON audit_entries \
        ((trent_audit_record(line) ->> 'eventID')) WHERE kind = 'event'",
    "CREATE INDEX IF NOT EXISTS audit_entries_by_access_key_id ON audit_entries \
        ((trent_audit_record(line) #>> '{userIdentity,accessKeyId}'), event_time, chain, seq) \
        WHERE kind = 'event'",
    "CREATE INDEX IF NOT EXISTS audit_entries_by_resource ON audit_entries \
        USING GIN ((trent_audit_record(line) -> 'resources') jsonb_path_ops) WHERE kind = 'event'",
];

/// The indexes of [`SCHEMA`]: when one is missing (a database of an older Trent), the
/// statements run again (each `IF NOT EXISTS` or `OR REPLACE`).
const INDEXES: &[&str] = &[
    "audit_entries_by_time",
    "audit_entries_by_event_name",
    "audit_entries_by_event_id",
    "audit_entries_by_access_key_id",
    "audit_entries_by_resource",
];

/// The condition (with its parameter `$n`) narrowing events to those whose attribute
/// has a value, through the attribute's index; `None` for the attributes not indexed
/// (few distinct values, or derived: the caller checks those event by event, within its
/// bound on the work of one call).
fn attribute_condition(key: AttributeKey, n: usize) -> Option<String> {
    let expr = match key {
        AttributeKey::EventName => "trent_audit_record(line) ->> 'eventName' = ",
        AttributeKey::EventId => "trent_audit_record(line) ->> 'eventID' = ",
        AttributeKey::AccessKeyId => {
            "trent_audit_record(line) #>> '{userIdentity,accessKeyId}' = "
        }
        AttributeKey::ResourceName => {
            return Some(format!(
                " AND trent_audit_record(line) -> 'resources' @> jsonb_build_array(jsonb_build_object('ARN', ${n}::text))"
            ))
        }
        AttributeKey::ReadOnly
        | AttributeKey::Username
        | AttributeKey::ResourceType
        | AttributeKey::EventSource => return None,
    };
    Some(format!(" AND {expr}${n}::text"))
}

/// The lock of a chain: per chain and per schema (tests, or deployments, may share one
/// database in several schemas).
const TRY_LOCK_CHAIN: &str = "SELECT pg_try_advisory_lock(hashtextextended(\
     'trent-audit-chain:' || coalesce(current_schema(), '') || ':' || $1, 0))";

/// Releases what [`TRY_LOCK_CHAIN`] took.
const UNLOCK_CHAIN: &str = "SELECT pg_advisory_unlock(hashtextextended(\
     'trent-audit-chain:' || coalesce(current_schema(), '') || ':' || $1, 0))";

/// A chain as published in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgChain {
    pub chain: String,
    /// The PEM of the audit signing public key of the node that writes the chain.
    pub public_key_pem: String,
    /// Unix milliseconds (the database's clock) when the chain was registered.
    pub created_at: i64,
}

struct WriterState {
    chain: String,
    public_key_pem: String,
    /// The connection holding the chain's lock; `None` after it was lost.
    conn: Option<PgConnection>,
}

/// The audit trail of every node, in one PostgreSQL database.
pub struct PgAuditStore {
    options: PgConnectOptions,
    pool: PgPool,
    /// `None` for a reader (verification, export); else the chain this node writes.
    writer: Option<tokio::sync::Mutex<WriterState>>,
}

impl std::fmt::Debug for PgAuditStore {
    // The connect options hold the password: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgAuditStore").finish_non_exhaustive()
    }
}

fn db(e: sqlx::Error) -> AuditError {
    AuditError::Database(e.to_string())
}

async fn timed<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, AuditError>>,
) -> Result<T, AuditError> {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .map_err(|_| AuditError::Database(format!("{what}: timed out after {TIMEOUT:?}")))?
}

impl PgAuditStore {
    /// Parses a `postgres://` URL (its password never leaves the options).
    pub fn options(url: &str) -> Result<PgConnectOptions, AuditError> {
        PgConnectOptions::from_str(url).map_err(|_| {
            AuditError::Database("the database URL is not a valid PostgreSQL URL".into())
        })
    }

    /// A reader of every chain (creates the tables if the database has none yet).
    pub async fn connect(options: PgConnectOptions) -> Result<PgAuditStore, AuditError> {
        let pool = PgPoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(TIMEOUT)
            .test_before_acquire(true)
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        timed("creating the audit tables", create_schema(&pool)).await?;
        Ok(PgAuditStore {
            options,
            pool,
            writer: None,
        })
    }

    /// The store of a node that writes `chain`, signing its digests with the key whose
    /// public half is `public_key_pem`. Fails with [`AuditError::ChainInUse`] if another
    /// live node writes the chain, and with [`AuditError::ChainOwner`] if the chain was
    /// started with another signing key.
    pub async fn open(
        options: PgConnectOptions,
        chain: &str,
        public_key_pem: &str,
    ) -> Result<PgAuditStore, AuditError> {
        let mut store = PgAuditStore::connect(options).await?;
        let mut state = WriterState {
            chain: chain.to_owned(),
            public_key_pem: public_key_pem.to_owned(),
            conn: None,
        };
        // A node restarted right after a crash may find its previous connection (and the
        // chain's lock) not yet gone: give it a moment before refusing.
        let deadline = tokio::time::Instant::now() + CLAIM_PATIENCE;
        let conn = loop {
            match timed("claiming the audit chain", store.claim(&state)).await {
                Err(AuditError::ChainInUse(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => break other?,
            }
        };
        state.conn = Some(conn);
        store.writer = Some(tokio::sync::Mutex::new(state));
        Ok(store)
    }

    /// A dedicated connection holding the chain's lock, the chain registered to this
    /// node's public key.
    async fn claim(&self, state: &WriterState) -> Result<PgConnection, AuditError> {
        let mut conn = PgConnection::connect_with(&self.options)
            .await
            .map_err(db)?;
        // Durable on commit, whatever the database's default is.
        sqlx::query("SET synchronous_commit TO on")
            .execute(&mut conn)
            .await
            .map_err(db)?;
        // A node whose host vanished (no FIN, no RST) must not hold its chain's lock for
        // the system's default two hours of TCP keepalive: the server probes this
        // connection after 10 s of silence and drops it after 3 unanswered probes.
        for setting in [
            "SET tcp_keepalives_idle TO 10",
            "SET tcp_keepalives_interval TO 5",
            "SET tcp_keepalives_count TO 3",
        ] {
            // Unix-socket connections have no TCP: the settings do not apply there.
            if let Err(e) = sqlx::query(setting).execute(&mut conn).await {
                tracing::debug!(error = %e, "{setting}");
            }
        }
        let locked: bool = sqlx::query_scalar(TRY_LOCK_CHAIN)
            .bind(&state.chain)
            .fetch_one(&mut conn)
            .await
            .map_err(db)?;
        if !locked {
            let _ = conn.close().await;
            return Err(AuditError::ChainInUse(state.chain.clone()));
        }
        sqlx::query(
            "INSERT INTO audit_chains (chain, public_key, created_at) \
             VALUES ($1, $2, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT) \
             ON CONFLICT (chain) DO NOTHING",
        )
        .bind(&state.chain)
        .bind(&state.public_key_pem)
        .execute(&mut conn)
        .await
        .map_err(db)?;
        let registered: String =
            sqlx::query_scalar("SELECT public_key FROM audit_chains WHERE chain = $1")
                .bind(&state.chain)
                .fetch_one(&mut conn)
                .await
                .map_err(db)?;
        if registered.trim() != state.public_key_pem.trim() {
            let _ = conn.close().await;
            return Err(AuditError::ChainOwner(state.chain.clone()));
        }
        Ok(conn)
    }

    /// Every chain registered in the database, with its public key, by chain id.
    pub async fn chains(&self) -> Result<Vec<PgChain>, AuditError> {
        let rows =
            sqlx::query("SELECT chain, public_key, created_at FROM audit_chains ORDER BY chain")
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(PgChain {
                    chain: r.try_get("chain").map_err(db)?,
                    public_key_pem: r.try_get("public_key").map_err(db)?,
                    created_at: r.try_get("created_at").map_err(db)?,
                })
            })
            .collect()
    }

    /// The chains a live node writes now: those whose lock another session holds (a
    /// node holds its chain's lock for as long as it runs). For commands that must run
    /// while no node does (`trent root-key migrate`).
    pub async fn live_chains(&self) -> Result<Vec<String>, AuditError> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let mut live = Vec::new();
        for chain in self.chains().await? {
            let taken: bool = sqlx::query_scalar(TRY_LOCK_CHAIN)
                .bind(&chain.chain)
                .fetch_one(&mut *conn)
                .await
                .map_err(db)?;
            if taken {
                sqlx::query(UNLOCK_CHAIN)
                    .bind(&chain.chain)
                    .execute(&mut *conn)
                    .await
                    .map_err(db)?;
            } else {
                live.push(chain.chain);
            }
        }
        Ok(live)
    }

    /// Every chain's anchor (`trent audit archive`). An anchor that cannot be read is an
    /// error: without it the chain would look cut.
    pub async fn anchors(&self) -> Result<Vec<crate::Anchor>, AuditError> {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT anchor FROM audit_anchors ORDER BY chain")
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        rows.iter()
            .map(|a| {
                serde_json::from_str(a).map_err(|e| {
                    AuditError::Database(format!("an audit anchor cannot be read: {e}"))
                })
            })
            .collect()
    }

    /// Writes (or moves on) a chain's anchor.
    pub async fn put_anchor(&self, anchor: &crate::Anchor) -> Result<(), AuditError> {
        let json = serde_json::to_string(anchor).map_err(|_| AuditError::Encode)?;
        sqlx::query(
            "INSERT INTO audit_anchors (chain, anchor) VALUES ($1, $2) \
             ON CONFLICT (chain) DO UPDATE SET anchor = EXCLUDED.anchor",
        )
        .bind(&anchor.chain)
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// The entries of `chain`, in order.
    pub async fn chain_lines(&self, chain: &str) -> Result<Vec<StoredLine>, AuditError> {
        let rows =
            sqlx::query("SELECT chain, seq, line FROM audit_entries WHERE chain = $1 ORDER BY seq")
                .bind(chain)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        rows.iter().map(stored_line).collect()
    }

    /// Every stored line (of `chain`, or of every chain), in storage order (by chain, then
    /// sequence number: the lines [`AuditStore::read_all`] or
    /// [`PgAuditStore::chain_lines`] return), handed to `each` one at a time and read
    /// `batch` rows per query (keyset pagination on the table's primary key), so that
    /// they are never all in memory. The queries run in one read-only transaction at
    /// repeatable read: the lines are those of one moment, as one query's would be,
    /// whatever the nodes append or an archive deletes meanwhile. An error of `each`
    /// stops the reading and is returned.
    pub async fn for_each_line(
        &self,
        chain: Option<&str>,
        batch: i64,
        mut each: impl FnMut(StoredLine) -> Result<(), AuditError>,
    ) -> Result<(), AuditError> {
        let batch = batch.max(1);
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // The key of the last row read: the next page starts after it.
        let mut after: Option<(String, i64)> = None;
        loop {
            let query = match (chain, &after) {
                (None, None) => sqlx::query(
                    "SELECT chain, seq, line FROM audit_entries ORDER BY chain, seq LIMIT $1",
                )
                .bind(batch),
                (None, Some((c, seq))) => sqlx::query(
                    "SELECT chain, seq, line FROM audit_entries WHERE (chain, seq) > ($2, $3) \
                     ORDER BY chain, seq LIMIT $1",
                )
                .bind(batch)
                .bind(c.clone())
                .bind(*seq),
                (Some(c), None) => sqlx::query(
                    "SELECT chain, seq, line FROM audit_entries WHERE chain = $2 \
                     ORDER BY seq LIMIT $1",
                )
                .bind(batch)
                .bind(c.to_owned()),
                (Some(c), Some((_, seq))) => sqlx::query(
                    "SELECT chain, seq, line FROM audit_entries WHERE chain = $2 AND seq > $3 \
                     ORDER BY seq LIMIT $1",
                )
                .bind(batch)
                .bind(c.to_owned())
                .bind(*seq),
            };
            let rows = query.fetch_all(&mut *tx).await.map_err(db)?;
            let full = i64::try_from(rows.len()).is_ok_and(|n| n >= batch);
            for row in &rows {
                let chain: String = row.try_get("chain").map_err(db)?;
                let seq: i64 = row.try_get("seq").map_err(db)?;
                each(StoredLine {
                    location: row_location(&chain, seq),
                    line: row.try_get("line").map_err(db)?,
                })?;
                after = Some((chain, seq));
            }
            if !full {
                break;
            }
        }
        // Read only: nothing to commit.
        tx.rollback().await.map_err(db)
    }

    /// Deletes `chain`'s entries up to `seq`, `batch` rows per statement (a long
    /// transaction would hold back the nodes' appends and vacuum); how many it deleted.
    pub async fn delete_through(
        &self,
        chain: &str,
        seq: u64,
        batch: i64,
    ) -> Result<u64, AuditError> {
        let seq = to_i64(seq)?;
        let mut deleted = 0;
        loop {
            let n = sqlx::query(
                "DELETE FROM audit_entries WHERE chain = $1 AND seq IN \
                 (SELECT seq FROM audit_entries WHERE chain = $1 AND seq <= $2 ORDER BY seq LIMIT $3)",
            )
            .bind(chain)
            .bind(seq)
            .bind(batch)
            .execute(&self.pool)
            .await
            .map_err(db)?
            .rows_affected();
            deleted += n;
            if n == 0 {
                return Ok(deleted);
            }
        }
    }

    /// Closes every connection (the chain's lock goes with the writer's).
    pub async fn close(&self) {
        if let Some(w) = &self.writer {
            if let Some(conn) = w.lock().await.conn.take() {
                let _ = conn.close().await;
            }
        }
        self.pool.close().await;
    }
}

async fn create_schema(pool: &PgPool) -> Result<(), AuditError> {
    let mut tx = pool.begin().await.map_err(db)?;
    // Nodes starting at once: concurrent CREATE ... IF NOT EXISTS may still collide.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SCHEMA_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    // Already there (the usual case): skip the statements, and their notices.
    let exists: bool = sqlx::query_scalar(
        "SELECT to_regclass('audit_entries') IS NOT NULL \
         AND to_regclass('audit_chains') IS NOT NULL \
         AND to_regclass('audit_anchors') IS NOT NULL \
         AND to_regclass('audit_intents_by_time') IS NOT NULL \
         AND (SELECT bool_and(to_regclass(i) IS NOT NULL) FROM unnest($1::text[]) AS i)",
    )
    .bind(INDEXES)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    if !exists {
        for statement in SCHEMA {
            sqlx::query(statement).execute(&mut *tx).await.map_err(db)?;
        }
    }
    tx.commit().await.map_err(db)
}

fn row_location(chain: &str, seq: i64) -> Location {
    Location {
        source: format!("row (chain {chain}, seq {seq})"),
        offset: None,
    }
}

fn to_i64(seq: u64) -> Result<i64, AuditError> {
    i64::try_from(seq).map_err(|_| AuditError::Database(format!("sequence number {seq} too large")))
}

fn stored_line(row: &sqlx::postgres::PgRow) -> Result<StoredLine, AuditError> {
    let chain: String = row.try_get("chain").map_err(db)?;
    let seq: i64 = row.try_get("seq").map_err(db)?;
    Ok(StoredLine {
        location: row_location(&chain, seq),
        line: row.try_get("line").map_err(db)?,
    })
}

/// Whether the connection may still be used after `e`: the server refused the statement
/// itself (a constraint, bad data), so nothing of it was written and the session is
/// intact. Anything else (a lost connection, a server shutting down, a timeout) drops
/// the connection; the next append reconnects and takes the chain's lock again.
fn connection_survives(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| ["22", "23", "42"].iter().any(|c| code.starts_with(c)))
}

async fn insert(conn: &mut PgConnection, entries: &[SealedEntry]) -> Result<(), sqlx::Error> {
    let mut chains = Vec::with_capacity(entries.len());
    let mut seqs = Vec::with_capacity(entries.len());
    let mut kinds = Vec::with_capacity(entries.len());
    let mut times = Vec::with_capacity(entries.len());
    let mut lines = Vec::with_capacity(entries.len());
    for e in entries {
        chains.push(e.chain.as_str());
        seqs.push(i64::try_from(e.seq).unwrap_or(i64::MAX));
        kinds.push(kind(&e.line));
        times.push(e.event_time);
        lines.push(e.line.as_str());
    }
    // One statement: one transaction, committed (synchronously) before it returns.
    sqlx::query(
        "INSERT INTO audit_entries (chain, seq, kind, event_time, line) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[])",
    )
    .bind(chains)
    .bind(seqs)
    .bind(kinds)
    .bind(times)
    .bind(lines)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The entry's kind, as its body says: the body's first `"kind"` member is the entry's
/// own (it precedes the record or digest, and chain ids need no escaping).
fn kind(line: &str) -> &'static str {
    match line.split_once(",\"kind\":\"") {
        Some((_, rest)) if rest.starts_with("digest\"") => "digest",
        Some((_, rest)) if rest.starts_with("intent\"") => "intent",
        _ => "event",
    }
}

#[async_trait]
impl AuditStore for PgAuditStore {
    async fn append(&self, entries: Vec<SealedEntry>) -> Result<(), AuditError> {
        if entries.is_empty() {
            return Ok(());
        }
        let Some(writer) = &self.writer else {
            return Err(AuditError::Database(
                "this audit store only reads the trail".into(),
            ));
        };
        let mut state = writer.lock().await;
        if let Some(e) = entries.iter().find(|e| e.chain != state.chain) {
            return Err(AuditError::Database(format!(
                "this node writes audit chain {:?}, not {:?}",
                state.chain, e.chain
            )));
        }
        let mut conn = match state.conn.take() {
            Some(c) => c,
            None => {
                let conn = timed("reconnecting the audit chain", self.claim(&state)).await?;
                tracing::info!(chain = %state.chain, "audit chain reconnected to PostgreSQL");
                conn
            }
        };
        match tokio::time::timeout(TIMEOUT, insert(&mut conn, &entries)).await {
            Ok(Ok(())) => {
                state.conn = Some(conn);
                Ok(())
            }
            Ok(Err(e)) => {
                if connection_survives(&e) {
                    state.conn = Some(conn);
                }
                Err(db(e))
            }
            // The outcome is unknown: drop the connection (the writer reads the chain's
            // end back before its next write).
            Err(_) => Err(AuditError::Database(format!(
                "writing audit events: timed out after {TIMEOUT:?}"
            ))),
        }
    }

    async fn tail(&self, chain: &str) -> Result<Option<Tail>, AuditError> {
        let row = timed("reading the end of the audit chain", async {
            sqlx::query(
                "SELECT seq, line FROM audit_entries WHERE chain = $1 ORDER BY seq DESC LIMIT 1",
            )
            .bind(chain)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
        })
        .await?;
        let Some(row) = row else { return Ok(None) };
        let seq: i64 = row.try_get("seq").map_err(db)?;
        let line: String = row.try_get("line").map_err(db)?;
        let parsed = parse_line(&line);
        Ok(Some(Tail {
            seq: u64::try_from(seq).unwrap_or(0),
            hash: parsed.stored_hash.unwrap_or(parsed.computed_hash),
        }))
    }

    async fn read_all(&self) -> Result<Vec<StoredLine>, AuditError> {
        let rows = sqlx::query("SELECT chain, seq, line FROM audit_entries ORDER BY chain, seq")
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter().map(stored_line).collect()
    }

    async fn anchor(&self, chain: &str) -> Result<Option<crate::Anchor>, AuditError> {
        let row: Option<String> = timed("reading the audit chain's anchor", async {
            sqlx::query_scalar("SELECT anchor FROM audit_anchors WHERE chain = $1")
                .bind(chain)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)
        })
        .await?;
        row.map(|a| {
            serde_json::from_str(&a)
                .map_err(|e| AuditError::Database(format!("the audit anchor cannot be read: {e}")))
        })
        .transpose()
    }

    async fn last_digest(&self, chain: &str) -> Result<Option<StoredLine>, AuditError> {
        let row = timed("reading the last audit digest", async {
            sqlx::query(
                "SELECT chain, seq, line FROM audit_entries \
                 WHERE chain = $1 AND kind = 'digest' ORDER BY seq DESC LIMIT 1",
            )
            .bind(chain)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)
        })
        .await?;
        row.as_ref().map(stored_line).transpose()
    }

    async fn events_newest_first(
        &self,
        from: Option<&EventKey>,
        start: Option<i64>,
        end: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(EventKey, crate::Record)>, AuditError> {
        let query = Query {
            attribute: None,
            start,
            end,
        };
        self.newest(from, &query, limit).await
    }

    async fn events_matching(
        &self,
        from: Option<&EventKey>,
        query: &Query,
        limit: usize,
    ) -> Result<Vec<(EventKey, crate::Record)>, AuditError> {
        self.newest(from, query, limit).await
    }
}

impl PgAuditStore {
    /// Outcomes, and intents whose outcome is missing (a request the node did not
    /// finish), merged; cut at `limit` so that the range returned is complete for both.
    async fn newest(
        &self,
        from: Option<&EventKey>,
        q: &Query,
        limit: usize,
    ) -> Result<Vec<(EventKey, crate::Record)>, AuditError> {
        let mut out = self.select_events(false, from, q, limit).await?;
        out.extend(self.select_events(true, from, q, limit).await?);
        out.sort_by(|a, b| b.0.cmp(&a.0));
        out.truncate(limit);
        Ok(out)
    }

    /// Events (or, with `intents`, intents without an outcome) in `query`'s time range
    /// (and of its attribute's value, where that attribute is indexed), at or before
    /// `from`, newest first, at most `limit`.
    async fn select_events(
        &self,
        intents: bool,
        from: Option<&EventKey>,
        q: &Query,
        limit: usize,
    ) -> Result<Vec<(EventKey, crate::Record)>, AuditError> {
        let (start, end) = (q.start, q.end);
        let mut sql = String::from(if intents {
            // An intent's outcome follows it in its chain and names the same request id
            // (or, for a service event, sharedEventID).
            "SELECT chain, seq, event_time, line FROM audit_entries e \
             WHERE kind = 'intent' AND event_time IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM audit_entries o \
                WHERE o.chain = e.chain AND o.seq > e.seq AND o.kind = 'event' \
                AND strpos(o.line, coalesce(substring(e.line from '\"requestID\":\"[^\"]*\"'), \
                    substring(e.line from '\"sharedEventID\":\"[^\"]*\"'))) > 0)"
        } else {
            "SELECT chain, seq, event_time, line FROM audit_entries \
             WHERE kind = 'event' AND event_time IS NOT NULL"
        });
        let mut n = 0;
        let mut next = || {
            n += 1;
            n
        };
        if from.is_some() {
            let (a, b, c) = (next(), next(), next());
            sql.push_str(&format!(
                " AND (event_time, chain, seq) <= (${a}::bigint, ${b}::text COLLATE \"C\", ${c}::bigint)"
            ));
        }
        if start.is_some() {
            sql.push_str(&format!(" AND event_time >= ${}::bigint", next()));
        }
        if end.is_some() {
            sql.push_str(&format!(" AND event_time <= ${}::bigint", next()));
        }
        let attribute = q
            .attribute
            .as_ref()
            .filter(|(key, _)| attribute_condition(*key, 0).is_some());
        if let Some((key, _)) = attribute {
            let k = next();
            sql.push_str(&attribute_condition(*key, k).unwrap_or_default());
        }
        sql.push_str(&format!(
            " ORDER BY event_time DESC, chain DESC, seq DESC LIMIT ${}::bigint",
            next()
        ));
        let mut query = sqlx::query(&sql);
        if let Some(f) = from {
            query = query
                .bind(f.time)
                .bind(f.chain.clone())
                .bind(to_i64(f.seq)?);
        }
        if let Some(s) = start {
            query = query.bind(s);
        }
        if let Some(e) = end {
            query = query.bind(e);
        }
        if let Some((_, value)) = attribute {
            query = query.bind(value.clone());
        }
        query = query.bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = timed("reading audit events", async {
            query.fetch_all(&self.pool).await.map_err(db)
        })
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let chain: String = row.try_get("chain").map_err(db)?;
            let seq: i64 = row.try_get("seq").map_err(db)?;
            let time: i64 = row.try_get("event_time").map_err(db)?;
            let line: String = row.try_get("line").map_err(db)?;
            let body = parse_line(&line).body;
            let record = if intents {
                body.and_then(|b| b.intent()).map(crate::unfinished)
            } else {
                body.and_then(|b| b.record())
            };
            let Some(record) = record else {
                continue;
            };
            out.push((
                EventKey {
                    time,
                    chain,
                    seq: u64::try_from(seq).unwrap_or(0),
                },
                record,
            ));
        }
        Ok(out)
    }
}
