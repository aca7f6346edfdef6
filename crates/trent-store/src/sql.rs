//! The narrow interface between the store's logic ([`crate::store`], written once) and a
//! SQL database: a query with its arguments, a row to decode, a transaction and a pool to
//! run queries on, and a [`Dialect`] for what truly differs between SQLite and PostgreSQL.
//!
//! One SQL text serves both databases: sqlx binds `$N` placeholders in SQLite as in
//! PostgreSQL (by number, so one may appear twice), the migrations are written in the
//! common subset of the two, and the few words that differ (`COLLATE "C"`, `FOR UPDATE`,
//! the database clock) are constants of the dialect.
//!
//! The values a query binds and a row yields are the three the schema uses (text, 64-bit
//! integers, bytes), each possibly NULL; `impl_sql!` implements [`Tx`], [`Reader`] and
//! [`Row`] for each sqlx database with one text.

use std::borrow::Cow;

use async_trait::async_trait;

use crate::{Change, ChangeStream, StoreError};

/// One bound value. (No `Debug`: a value may be sealed bytes.)
pub enum Arg<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
    Bytes(Option<&'a [u8]>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(Cow::Borrowed(v)))
    }
}

impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Some(Cow::Owned(v)))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref().map(Cow::Borrowed))
    }
}

impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        Arg::Text(v.map(Cow::Owned))
    }
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(Some(v))
    }
}

impl<'a> From<&'a Vec<u8>> for Arg<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Arg::Bytes(Some(v))
    }
}

impl<'a> From<&'a Option<Vec<u8>>> for Arg<'a> {
    fn from(v: &'a Option<Vec<u8>>) -> Self {
        Arg::Bytes(v.as_deref())
    }
}

/// A statement and the values of its `$1`, `$2`, ... in order.
pub struct Query<'a> {
    sql: Cow<'a, str>,
    args: Vec<Arg<'a>>,
}

/// A statement without arguments yet (bind them with [`Query::bind`]).
pub fn query<'a>(sql: impl Into<Cow<'a, str>>) -> Query<'a> {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

impl<'a> Query<'a> {
    /// Binds the next placeholder.
    pub fn bind(mut self, value: impl Into<Arg<'a>>) -> Self {
        self.args.push(value.into());
        self
    }

    /// Binds the next placeholder if there is a value; a statement that numbers its
    /// placeholders by what it binds.
    pub fn bind_some(self, value: Option<impl Into<Arg<'a>>>) -> Self {
        match value {
            Some(v) => self.bind(v),
            None => self,
        }
    }

    /// Runs the statement in `tx`; the number of rows it changed.
    pub async fn execute<T: Tx>(self, tx: &mut T) -> Result<u64, sqlx::Error> {
        timed("statement", tx.execute(self)).await
    }

    pub async fn fetch_all<T: Tx>(self, tx: &mut T) -> Result<Vec<T::Row>, sqlx::Error> {
        timed("statement", tx.fetch_all(self)).await
    }

    pub async fn fetch_optional<T: Tx>(self, tx: &mut T) -> Result<Option<T::Row>, sqlx::Error> {
        timed("statement", tx.fetch_optional(self)).await
    }

    /// Runs the statement on a pool, outside any transaction of this store.
    pub async fn read_all<R: Reader>(self, pool: &R) -> Result<Vec<R::Row>, sqlx::Error> {
        timed("read", pool.fetch_all(self)).await
    }

    pub async fn read_optional<R: Reader>(self, pool: &R) -> Result<Option<R::Row>, sqlx::Error> {
        timed("read", pool.fetch_optional(self)).await
    }

    pub async fn read_one<R: Reader>(self, pool: &R) -> Result<R::Row, sqlx::Error> {
        timed("read", pool.fetch_one(self)).await
    }
}

/// Runs one database round trip, recording its duration in
/// `trent_store_operation_duration_seconds` and a failure in `trent_store_errors_total`
/// (by operation: `read` on the reader pool, `statement` in a write transaction,
/// `commit`).
pub(crate) async fn timed<T>(
    operation: &'static str,
    work: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    use tracing::Instrument as _;
    // A child span of a traced request (span export on), else none.
    let span = if tracing::enabled!(target: "trent_trace", tracing::Level::INFO)
        && !tracing::Span::current().is_none()
    {
        tracing::info_span!(target: "trent_trace", "store", db.operation.name = operation)
    } else {
        tracing::Span::none()
    };
    let started = std::time::Instant::now();
    let result = work.instrument(span).await;
    metrics::histogram!("trent_store_operation_duration_seconds", "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    if result.is_err() {
        metrics::counter!("trent_store_errors_total", "operation" => operation).increment(1);
    }
    result
}

/// One row of a result; columns are read by name.
pub trait Row: Send + Sync + 'static {
    fn text(&self, name: &str) -> Result<String, sqlx::Error>;
    fn opt_text(&self, name: &str) -> Result<Option<String>, sqlx::Error>;
    fn int(&self, name: &str) -> Result<i64, sqlx::Error>;
    fn opt_int(&self, name: &str) -> Result<Option<i64>, sqlx::Error>;
    fn bytes(&self, name: &str) -> Result<Vec<u8>, sqlx::Error>;
    fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, sqlx::Error>;
}

/// A Rust type a column decodes to.
pub trait Column: Sized {
    fn read<R: Row>(row: &R, name: &str) -> Result<Self, sqlx::Error>;
}

impl Column for String {
    fn read<R: Row>(row: &R, name: &str) -> Result<Self, sqlx::Error> {
        row.text(name)
    }
}

impl Column for Option<String> {
    fn read<R: Row>(row: &R, name: &str) -> Result<Self, sqlx::Error> {
        row.opt_text(name)
    }
}

impl Column for i64 {
    fn read<R: Row>(row: &R, name: &str) -> Result<Self, sqlx::Error> {
        row.int(name)
    }
}

impl Column for Option<i64> {
    fn read<R: Row>(row: &R, name: &str) -> Result<Self, sqlx::Error> {
        row.opt_int(name)
    }
}

impl Column for Vec<u8> {
    fn read<R: Row>(row: &R, name: &str) -> Result<Self, sqlx::Error> {
        row.bytes(name)
    }
}

impl Column for Option<Vec<u8>> {
    fn read<R: Row>(row: &R, name: &str) -> Result<Self, sqlx::Error> {
        row.opt_bytes(name)
    }
}

/// The enumerations of the KMS model that records hold (`trent_wire`'s generated enums),
/// stored as their wire names. A stored name that is not a value of its enumeration is a
/// decoding error of its column, hence [`StoreError::Corrupt`]: never a default.
macro_rules! wire_enum_column {
    ($($ty:ident),* $(,)?) => {$(
        impl Column for trent_wire::$ty {
            fn read<R: Row>(row: &R, name: &str) -> Result<Self, sqlx::Error> {
                parse_wire::<Self>(row.text(name)?, name, trent_wire::$ty::parse)
            }
        }

        impl Column for Option<trent_wire::$ty> {
            fn read<R: Row>(row: &R, name: &str) -> Result<Self, sqlx::Error> {
                row.opt_text(name)?
                    .map(|text| parse_wire::<trent_wire::$ty>(text, name, trent_wire::$ty::parse))
                    .transpose()
            }
        }

        impl From<trent_wire::$ty> for Arg<'_> {
            fn from(v: trent_wire::$ty) -> Self {
                Arg::Text(Some(Cow::Borrowed(v.as_str())))
            }
        }

        impl From<Option<trent_wire::$ty>> for Arg<'_> {
            fn from(v: Option<trent_wire::$ty>) -> Self {
                Arg::Text(v.map(|v| Cow::Borrowed(v.as_str())))
            }
        }
    )*};
}

wire_enum_column!(
    KeyState,
    KeySpec,
    KeyUsageType,
    OriginType,
    KeyManagerType,
    RotationType,
    ExpirationModelType,
    CustomKeyStoreType,
    ConnectionStateType,
    ConnectionErrorCodeType,
    XksProxyConnectivityType,
);

/// The identifier newtypes records hold (`trent_wire::ids`), stored as their text. A
/// stored text that is not one is a decoding error of its column, hence
/// [`StoreError::Corrupt`].
macro_rules! id_column {
    ($($ty:ident),* $(,)?) => {$(
        impl Column for trent_wire::$ty {
            fn read<R: Row>(row: &R, name: &str) -> Result<Self, sqlx::Error> {
                parse_id(row.text(name)?, name)
            }
        }

        impl Column for Option<trent_wire::$ty> {
            fn read<R: Row>(row: &R, name: &str) -> Result<Self, sqlx::Error> {
                row.opt_text(name)?.map(|text| parse_id(text, name)).transpose()
            }
        }

        impl<'a> From<&'a trent_wire::$ty> for Arg<'a> {
            fn from(v: &'a trent_wire::$ty) -> Self {
                Arg::Text(Some(Cow::Borrowed(v.as_str())))
            }
        }

        impl<'a> From<&'a Option<trent_wire::$ty>> for Arg<'a> {
            fn from(v: &'a Option<trent_wire::$ty>) -> Self {
                Arg::Text(v.as_ref().map(|v| Cow::Borrowed(v.as_str())))
            }
        }

        impl ParseId for trent_wire::$ty {
            fn parse_id(text: String) -> Result<Self, trent_wire::InvalidId> {
                trent_wire::$ty::parse(text)
            }
        }
    )*};
}

trait ParseId: Sized {
    fn parse_id(text: String) -> Result<Self, trent_wire::InvalidId>;
}

id_column!(AccountId, Region, KeyArn);

/// A stored text that is not the identifier its column holds.
#[derive(Debug, thiserror::Error)]
#[error("{value:?} is {error}")]
struct NotAnId {
    value: String,
    error: trent_wire::InvalidId,
}

fn parse_id<T: ParseId>(text: String, name: &str) -> Result<T, sqlx::Error> {
    T::parse_id(text.clone()).map_err(|error| sqlx::Error::ColumnDecode {
        index: name.to_owned(),
        source: Box::new(NotAnId { value: text, error }),
    })
}

/// A stored text that is not a value of the enumeration its column holds.
#[derive(Debug, thiserror::Error)]
#[error("{value:?} is not a {shape} value")]
struct NotAWireValue {
    value: String,
    shape: &'static str,
}

fn parse_wire<T>(text: String, name: &str, parse: fn(&str) -> Option<T>) -> Result<T, sqlx::Error> {
    parse(&text).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: name.to_owned(),
        source: Box::new(NotAWireValue {
            value: text,
            shape: std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("enum"),
        }),
    })
}

/// Reads column `name`: a value that does not decode (a NULL in a NOT NULL field, a wrong
/// type) is [`StoreError::Corrupt`].
pub fn column<T: Column, R: Row>(row: &R, name: &str) -> Result<T, StoreError> {
    T::read(row, name).map_err(|e| match e {
        sqlx::Error::ColumnDecode { .. } => StoreError::Corrupt {
            what: format!("column {name}: {e}"),
        },
        other => StoreError::Backend(Box::new(other)),
    })
}

/// An open transaction: dropped without [`Tx::commit`], it rolls back.
#[async_trait]
pub trait Tx: Send {
    type Row: Row;
    async fn execute(&mut self, q: Query<'_>) -> Result<u64, sqlx::Error>;
    async fn fetch_all(&mut self, q: Query<'_>) -> Result<Vec<Self::Row>, sqlx::Error>;
    async fn fetch_optional(&mut self, q: Query<'_>) -> Result<Option<Self::Row>, sqlx::Error>;
    async fn commit(self) -> Result<(), sqlx::Error>
    where
        Self: Sized;
    async fn rollback(self) -> Result<(), sqlx::Error>
    where
        Self: Sized;
}

/// A pool that reads (each read is one statement, hence one consistent snapshot).
#[async_trait]
pub trait Reader: Send + Sync {
    type Row: Row;
    async fn fetch_all(&self, q: Query<'_>) -> Result<Vec<Self::Row>, sqlx::Error>;
    async fn fetch_optional(&self, q: Query<'_>) -> Result<Option<Self::Row>, sqlx::Error>;
    async fn fetch_one(&self, q: Query<'_>) -> Result<Self::Row, sqlx::Error>;
}

/// What differs between the databases the store runs on; everything else is in
/// [`crate::store`]. Implemented by each backend's connection holder.
#[async_trait]
pub trait Dialect: std::fmt::Debug + Send + Sync + 'static {
    type Tx: Tx<Row = Self::Row>;
    type Reader: Reader<Row = Self::Row>;
    type Row: Row;

    /// Appended to a text column that is ordered or compared, so that text orders as
    /// bytes of UTF-8 (SQLite's BINARY collation) whatever the database's default.
    const COLLATE: &'static str;
    /// Appended to a `SELECT` of a key row that serializes the writers of that key.
    const FOR_UPDATE: &'static str;
    /// The database's clock in Unix milliseconds, if leases expire by it (several nodes);
    /// `None`: by this process's clock (one process owns the database).
    const NOW_MS: Option<&'static str>;

    /// The pool that reads.
    fn reader(&self) -> &Self::Reader;
    /// Starts a write transaction.
    async fn begin_write(&self) -> Result<Self::Tx, StoreError>;
    /// Sorts a database error into a [`StoreError`].
    fn backend(e: sqlx::Error) -> StoreError;
    /// Announces `change` to every node when (and only if) `tx` commits.
    async fn notify(tx: &mut Self::Tx, change: &Change) -> Result<(), StoreError>;
    /// Locks the rows of these keys (those that exist) in one order, so that transactions
    /// writing several keys wait for each other instead of deadlocking.
    async fn lock_keys(tx: &mut Self::Tx, key_ids: &[&str]) -> Result<(), StoreError>;
    /// [`crate::Store::subscribe`].
    async fn subscribe(&self) -> Result<ChangeStream, StoreError>;
}

/// Implements [`Tx`] for `sqlx::Transaction<'static, $db>`, [`Reader`] for
/// `sqlx::Pool<$db>` and [`Row`] for `$row`: one text for every sqlx database.
macro_rules! impl_sql {
    ($db:ty, $row:ty) => {
        impl Row for $row {
            fn text(&self, name: &str) -> Result<String, sqlx::Error> {
                sqlx::Row::try_get(self, name)
            }
            fn opt_text(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
                sqlx::Row::try_get(self, name)
            }
            fn int(&self, name: &str) -> Result<i64, sqlx::Error> {
                sqlx::Row::try_get(self, name)
            }
            fn opt_int(&self, name: &str) -> Result<Option<i64>, sqlx::Error> {
                sqlx::Row::try_get(self, name)
            }
            fn bytes(&self, name: &str) -> Result<Vec<u8>, sqlx::Error> {
                sqlx::Row::try_get(self, name)
            }
            fn opt_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
                sqlx::Row::try_get(self, name)
            }
        }

        fn to_sqlx<'q>(
            query: &'q Query<'_>,
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
            let mut q = sqlx::query(&query.sql);
            for arg in &query.args {
                q = match arg {
                    Arg::Text(v) => q.bind(v.as_deref()),
                    Arg::Int(v) => q.bind(*v),
                    Arg::Bytes(v) => q.bind(*v),
                };
            }
            q
        }

        #[async_trait]
        impl Tx for sqlx::Transaction<'static, $db> {
            type Row = $row;
            async fn execute(&mut self, q: Query<'_>) -> Result<u64, sqlx::Error> {
                Ok(to_sqlx(&q).execute(&mut **self).await?.rows_affected())
            }
            async fn fetch_all(&mut self, q: Query<'_>) -> Result<Vec<$row>, sqlx::Error> {
                to_sqlx(&q).fetch_all(&mut **self).await
            }
            async fn fetch_optional(&mut self, q: Query<'_>) -> Result<Option<$row>, sqlx::Error> {
                to_sqlx(&q).fetch_optional(&mut **self).await
            }
            async fn commit(self) -> Result<(), sqlx::Error> {
                crate::sql::timed("commit", sqlx::Transaction::commit(self)).await
            }
            async fn rollback(self) -> Result<(), sqlx::Error> {
                sqlx::Transaction::rollback(self).await
            }
        }

        #[async_trait]
        impl Reader for sqlx::Pool<$db> {
            type Row = $row;
            async fn fetch_all(&self, q: Query<'_>) -> Result<Vec<$row>, sqlx::Error> {
                to_sqlx(&q).fetch_all(self).await
            }
            async fn fetch_optional(&self, q: Query<'_>) -> Result<Option<$row>, sqlx::Error> {
                to_sqlx(&q).fetch_optional(self).await
            }
            async fn fetch_one(&self, q: Query<'_>) -> Result<$row, sqlx::Error> {
                to_sqlx(&q).fetch_one(self).await
            }
        }
    };
}

mod sqlite {
    use super::*;
    impl_sql!(sqlx::Sqlite, sqlx::sqlite::SqliteRow);
}

mod postgres {
    use super::*;
    impl_sql!(sqlx::Postgres, sqlx::postgres::PgRow);
}
