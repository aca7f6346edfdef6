//! The store conformance suite on SQLite, one test per behaviour, plus what only a
//! file-backed store shows: writes survive re-opening, and migrations run exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

use trent_store::{
    AccessKeyRecord, AliasRecord, KeyManagerType, KeyRecord, KeyState, MaterialRecord,
    SchemaTooNew, SqliteStore, Store, StoreError,
};

async fn fresh() -> (Arc<dyn Store>, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("trent.db"))
        .await
        .unwrap();
    (Arc::new(store), dir)
}

trent_store::store_conformance_tests!(fresh);

/// The suite never assumes an empty store: running it twice on one store passes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_suite_twice_on_one_store() {
    let (store, _dir) = fresh().await;
    trent_store::conformance::run_all(store.clone()).await;
    trent_store::conformance::run_all(store).await;
}

fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("trent.db")
}

async fn raw_connection(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .unwrap()
}

async fn applied_versions(path: &Path) -> Vec<i64> {
    let mut conn = raw_connection(path).await;
    let versions = sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    versions
}

/// The numbers of the `.sql` files under `migrations/` (`0007_x.sql` is 7), in order:
/// numbers may skip one taken by a branch not merged yet.
fn every_migration() -> Vec<i64> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut versions: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            name[..4].parse().unwrap()
        })
        .collect();
    versions.sort_unstable();
    versions
}

struct Written {
    key: KeyRecord,
    materials: Vec<MaterialRecord>,
    alias: AliasRecord,
    access_key: AccessKeyRecord,
}

async fn write_one_of_each(store: &dyn Store) -> Written {
    let (mut key, mut first) = trent_store::conformance::new_key("111122223333", "us-east-1");
    let key_id = key.key_id.clone();
    first.created_at = 1_000;
    first.sealed = vec![1, 2, 3, 0, 255];
    key.created_at = 1_000;
    key.description = "durable".to_owned();
    key.tags = vec![
        ("b".to_owned(), "1".to_owned()),
        ("a".to_owned(), "2".to_owned()),
    ];
    key.policy = "{\"Version\":\"2012-10-17\"}".to_owned();
    store.create_key(&key, Some(&first)).await.unwrap();
    let rotated = MaterialRecord {
        key_id: key_id.clone(),
        material_id: uuid::Uuid::new_v4().to_string(),
        created_at: 2_000,
        sealed: vec![9; 64],
    };
    store.add_material(&rotated).await.unwrap();
    let key = store
        .update_key(&KeyRecord {
            current_material_id: Some(rotated.material_id.clone()),
            state: KeyState::Disabled,
            tags: vec![("c".to_owned(), "3".to_owned())],
            ..key
        })
        .await
        .unwrap();
    let alias = AliasRecord {
        account_id: key.account_id.to_string(),
        region: key.region.to_string(),
        alias_name: "alias/durable".to_owned(),
        target_key_id: key_id,
        created_at: 3_000,
        updated_at: 3_000,
    };
    store.create_alias(&alias).await.unwrap();
    let access_key = AccessKeyRecord {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".to_owned(),
        account_id: key.account_id.to_string(),
        principal_arn: "arn:aws:iam::111122223333:user/admin".to_owned(),
        sealed_secret: vec![7; 60],
        created_at: 4_000,
        status: "Active".to_owned(),
    };
    store.put_access_key(&access_key).await.unwrap();
    assert_eq!(store.init_meta("root-check", b"kcv").await.unwrap(), b"kcv");
    Written {
        key,
        materials: vec![first, rotated],
        alias,
        access_key,
    }
}

async fn assert_all_there(store: &dyn Store, written: &Written) {
    assert_eq!(
        store.key(&written.key.key_id).await.unwrap().as_ref(),
        Some(&written.key)
    );
    assert_eq!(
        store
            .list_keys("111122223333", "us-east-1", None, 10)
            .await
            .unwrap(),
        vec![written.key.clone()]
    );
    assert!(store.materials(&written.key.key_id).await.unwrap() == written.materials);
    assert_eq!(
        store
            .alias("111122223333", "us-east-1", "alias/durable")
            .await
            .unwrap()
            .as_ref(),
        Some(&written.alias)
    );
    assert!(store.access_keys().await.unwrap() == vec![written.access_key.clone()]);
    assert_eq!(
        store.meta("root-check").await.unwrap().as_deref(),
        Some(&b"kcv"[..])
    );
}

/// Every acknowledged write is there after the store is dropped (no clean shutdown) and
/// re-opened, and again after a clean close.
#[tokio::test]
async fn acknowledged_writes_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    let written = write_one_of_each(&store).await;
    drop(store);

    let store = SqliteStore::open(&path).await.unwrap();
    assert_all_there(&store, &written).await;
    store.close().await;

    let store = SqliteStore::open(&path).await.unwrap();
    assert_all_there(&store, &written).await;
    // Still writable, and still enforcing versions, after re-opening.
    let err = store
        .update_key(&KeyRecord {
            version: 1,
            ..written.key.clone()
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    store.close().await;
}

/// Opening creates the file, puts it in WAL mode, and records every migration once.
#[tokio::test]
async fn open_creates_the_file_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    assert!(!path.exists());
    SqliteStore::open(&path).await.unwrap().close().await;
    assert!(path.exists());
    let mut conn = raw_connection(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();
    assert_eq!(applied_versions(&path).await, every_migration());
}

/// Re-opening (even while another store has the file open) applies nothing twice and
/// keeps the data.
#[tokio::test]
async fn reopening_runs_migrations_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let first = SqliteStore::open(&path).await.unwrap();
    let written = write_one_of_each(&first).await;
    let second = SqliteStore::open(&path).await.unwrap();
    let third = SqliteStore::open(&path).await.unwrap();
    assert_all_there(&third, &written).await;
    assert_all_there(&first, &written).await;
    for store in [first, second, third] {
        store.close().await;
    }
    assert_eq!(applied_versions(&path).await, every_migration());
}

/// Several processes (here: stores) opening a new file at the same moment agree: each
/// migration is applied once and every open succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_opens_apply_each_migration_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let path = path.clone();
            tokio::spawn(async move { SqliteStore::open(&path).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().unwrap());
    }
    let written = write_one_of_each(&stores[0]).await;
    assert_all_there(&stores[5], &written).await;
    for store in stores {
        store.close().await;
    }
    assert_eq!(applied_versions(&path).await, every_migration());
}

/// A file migrated by a newer Trent is refused rather than written with an older schema.
#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    SqliteStore::open(&path).await.unwrap().close().await;
    let mut conn = raw_connection(&path).await;
    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (1000000, 0)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let err = SqliteStore::open(&path).await.unwrap_err();
    let too_new = err
        .source()
        .and_then(|s| s.downcast_ref::<SchemaTooNew>())
        .unwrap_or_else(|| panic!("expected Backend(SchemaTooNew), got {err:?}"));
    assert_eq!(too_new.found, 1_000_000);
    assert_eq!(too_new.supported, *every_migration().last().unwrap());
}

/// A store that cannot be created reports a backend error (and does not panic).
#[tokio::test]
async fn unopenable_path_is_a_backend_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(&dir.path().join("missing-dir").join("trent.db"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
}

/// A key stored before key policies existed (schema version 2) has AWS's default key
/// policy of its account after the upgrade, byte for byte as KMS formats it.
#[tokio::test]
async fn keys_from_before_key_policies_get_the_default_key_policy() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::raw_sql(include_str!("../migrations/0001_initial.sql"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::raw_sql(include_str!("../migrations/0002_leases.sql"))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, \
             applied_at BIGINT NOT NULL); \
             INSERT INTO schema_migrations VALUES (1, 0), (2, 0); \
             INSERT INTO keys VALUES ('k1', '444455556666', 'us-east-1', \
             'arn:aws:kms:us-east-1:444455556666:key/0b1a8a6e-2f52-4c38-9a55-3a8d5d7e0a11', 1, 0, '', 'SYMMETRIC_DEFAULT', \
             'ENCRYPT_DECRYPT', 'AWS_KMS', 'Enabled', NULL, NULL, 'm1', 0); \
             INSERT INTO key_materials VALUES ('k1', 'm1', 1, 0, x'00');",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let key = store.key("k1").await.unwrap().unwrap();
    assert_eq!(key.policy, trent_policy::default_key_policy("444455556666"));
    // Migration 0008: every key created before is a customer managed key of the default
    // key store.
    assert_eq!(key.key_manager, KeyManagerType::Customer);
    assert_eq!(key.custom_key_store_id, None);
    assert_eq!(applied_versions(&path).await, every_migration());
}

/// A stored state, spec, usage, origin or key manager that is not a value of its
/// enumeration, or an account, region or key ARN that is not one, is corrupt data:
/// reading the key fails, it never decodes to a default.
#[tokio::test]
async fn unknown_stored_enum_values_and_malformed_ids_are_corrupt() {
    for (column, value) in [
        ("state", "Enabledish"),
        ("key_spec", "AES_256"),
        ("key_usage", ""),
        ("origin", "aws_kms"),
        ("key_manager", "SOMEONE"),
        ("account_id", "11112222333"),
        ("region", "US-EAST-1"),
        ("arn", "arn:aws:kms:us-east-1:111122223333:alias/x"),
        ("primary_region", ""),
    ] {
        let (store, dir) = fresh().await;
        let written = write_one_of_each(store.as_ref()).await;
        drop(store);
        let mut conn = raw_connection(&db_path(&dir)).await;
        sqlx::query(&format!("UPDATE keys SET {column} = ? WHERE key_id = ?"))
            .bind(value)
            .bind(&written.key.key_id)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let store = SqliteStore::open(&db_path(&dir)).await.unwrap();
        let err = store.key(&written.key.key_id).await.unwrap_err();
        match err {
            StoreError::Corrupt { what } => {
                assert!(what.contains(column), "{column}: {what}");
            }
            other => panic!("{column}: {other:?}"),
        }
    }
}

/// Migration 0011 counts the customer managed keys a store already holds.
#[tokio::test]
async fn the_key_count_migration_counts_existing_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = SqliteStore::open(&path).await.unwrap();
    let expected = trent_store::conformance::keys_to_count(&store).await;
    store.close().await;
    // Back to schema 10, keys and all.
    let mut conn = raw_connection(&path).await;
    for statement in [
        "DROP TABLE key_counts",
        "DELETE FROM schema_migrations WHERE version = 11",
    ] {
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
    trent_store::conformance::assert_key_counts(&store, &expected).await;
    assert_eq!(applied_versions(&path).await, every_migration());
}
