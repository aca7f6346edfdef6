//! The store conformance suite on PostgreSQL, each test in a schema of its own, plus what
//! only a shared database shows: the change feed, migrations under concurrent first starts,
//! and the mapping of an unreachable database.
//!
//! The database comes from `TRENT_TEST_POSTGRES_URL` (e.g.
//! `postgres://postgres@127.0.0.1:5432/test`) through the test kit's fixture. Without it
//! every test here prints that it was skipped and passes, so that a checkout without
//! PostgreSQL still tests; CI sets it and checks the database is reachable first (and the
//! fixture fails a test that finds it missing under CI).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use trent_store::{
    AliasRecord, Change, ChangeStream, KeyRecord, KeyState, MaterialRecord, OriginType,
    PostgresStore, Store, StoreError, Transaction,
};
use trent_testkit::postgres::{self, Schema};

/// The server's URL, or `None` (skipped, with a notice) when none is configured.
fn test_url() -> Option<String> {
    postgres::url("PostgreSQL store test")
}

/// A schema of its own (dropped, with everything in it, when the test ends) and the
/// options to connect into it.
async fn new_schema(url: &str) -> (Schema, PgConnectOptions) {
    let schema = Schema::create(url, "trent_test_").await;
    let options = schema.options();
    (schema, options)
}

async fn fresh_pg() -> Option<(Arc<dyn Store>, Schema)> {
    let url = test_url()?;
    let (schema, options) = new_schema(&url).await;
    let store = PostgresStore::open(options).await.unwrap();
    Some((Arc::new(store), schema))
}

/// One `#[tokio::test]` per conformance case (the same list as SQLite's, from the suite
/// itself), skipped with a notice when no database is configured.
macro_rules! pg_conformance_tests {
    ($open:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some((store, _schema)) = $open().await else { return };
                trent_store::conformance::$case(store).await;
            }
        )+
    };
}

trent_store::__store_conformance_cases!((pg_conformance_tests) fresh_pg);

/// The suite never assumes an empty store: running it twice on one store passes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_suite_twice_on_one_store() {
    let Some((store, _schema)) = fresh_pg().await else {
        return;
    };
    trent_store::conformance::run_all(store.clone()).await;
    trent_store::conformance::run_all(store).await;
}

fn new_key() -> (KeyRecord, MaterialRecord) {
    let (mut key, mut material) = trent_store::conformance::new_key("111122223333", "us-east-1");
    key.created_at = 1;
    key.policy = "{}".to_owned();
    material.created_at = 1;
    material.sealed = vec![1, 2, 3];
    (key, material)
}

/// Waits (with a generous deadline, no fixed sleep) for the feed to announce `wanted`,
/// skipping unrelated changes; returns how long it took.
async fn announced(stream: &mut ChangeStream, wanted: &Change) -> Duration {
    let start = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.next().await {
                Some(c) if &c == wanted => return,
                Some(_) => {}
                None => panic!("the change feed ended while waiting for {wanted:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{wanted:?} was not announced within 10 s"));
    start.elapsed()
}

/// Every committed write is announced to every store on the database (here: two stores,
/// as two nodes would hold); refused writes announce nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn committed_writes_are_announced_to_every_node() {
    let Some(url) = test_url() else { return };
    let (_schema, options) = new_schema(&url).await;
    let writer = PostgresStore::open(options.clone()).await.unwrap();
    let other = PostgresStore::open(options).await.unwrap();
    let mut here = writer.subscribe().await.unwrap();
    let mut there = other.subscribe().await.unwrap();

    let (key, material) = new_key();
    writer.create_key(&key, Some(&material)).await.unwrap();
    let change = Change::Key(key.key_id.clone());
    announced(&mut here, &change).await;
    let took = announced(&mut there, &change).await;
    eprintln!("create_key announced to the other node in {took:?}");

    // A refused update (stale version) announces nothing; the next real one does.
    let updated = writer
        .update_key(&KeyRecord {
            state: KeyState::Disabled,
            ..key.clone()
        })
        .await
        .unwrap();
    assert!(matches!(
        writer.update_key(&key).await,
        Err(StoreError::Conflict)
    ));
    let second = MaterialRecord {
        material_id: uuid::Uuid::new_v4().to_string(),
        ..material.clone()
    };
    writer.add_material(&second).await.unwrap();
    // Exactly two announcements of the key follow: the update and the new material.
    for _ in 0..2 {
        announced(&mut there, &change).await;
    }
    assert_eq!(updated.version, 2);

    let alias = AliasRecord {
        account_id: key.account_id.to_string(),
        region: key.region.to_string(),
        alias_name: "alias/feed:test".to_owned(),
        target_key_id: key.key_id.clone(),
        created_at: 1,
        updated_at: 1,
    };
    let alias_change = Change::Alias {
        account_id: alias.account_id.clone(),
        region: alias.region.clone(),
        alias_name: alias.alias_name.clone(),
    };
    writer.create_alias(&alias).await.unwrap();
    announced(&mut there, &alias_change).await;
    writer.update_alias(&alias).await.unwrap();
    announced(&mut there, &alias_change).await;
    writer
        .delete_alias(&alias.account_id, &alias.region, &alias.alias_name)
        .await
        .unwrap();
    announced(&mut there, &alias_change).await;

    // Dropping the store ends its feed.
    drop(other);
    tokio::time::timeout(Duration::from_secs(10), async {
        while there.next().await.is_some() {}
    })
    .await
    .expect("the feed of a dropped store ends");
}

/// Several nodes starting at once on an empty schema apply every migration exactly once
/// and all open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_opens_apply_each_migration_once() {
    let Some(url) = test_url() else { return };
    let (schema, options) = new_schema(&url).await;
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let options = options.clone();
            tokio::spawn(async move { PostgresStore::open(options).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().unwrap());
    }
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let versions: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM \"{}\".schema_migrations ORDER BY version",
        schema.name()
    ))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    // The numbers of the migration files (`0007_x.sql` is 7): they may skip one.
    let mut files: Vec<i64> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))
            .unwrap()
            .map(|e| {
                e.unwrap().file_name().to_str().unwrap()[..4]
                    .parse()
                    .unwrap()
            })
            .collect();
    files.sort_unstable();
    assert_eq!(versions, files);
    assert!(stores[0].is_empty().await.unwrap());
    for store in stores {
        store.close().await;
    }
}

/// Nodes announce themselves with a shared lock, which an exclusive holder (a root key
/// migration) keeps out, and which keeps it out; per schema; gone with the holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_presence_and_exclusion() {
    let Some(url) = test_url() else { return };
    let (_schema, options) = new_schema(&url).await;
    let (_other_schema, other_options) = new_schema(&url).await;
    let a = PostgresStore::open(options.clone()).await.unwrap();
    let b = PostgresStore::open(options).await.unwrap();
    let elsewhere = PostgresStore::open(other_options).await.unwrap();

    let first = a.announce_node().await.unwrap();
    let second = b.announce_node().await.unwrap();
    assert!(a.exclude_nodes().await.unwrap().is_none());
    // Another schema is another deployment.
    let other = elsewhere.exclude_nodes().await.unwrap();
    assert!(other.is_some());
    drop(first);
    assert!(b.exclude_nodes().await.unwrap().is_none());
    drop(second);
    // The connection closes asynchronously on the server: wait for the lock to go.
    let exclusive = loop {
        if let Some(held) = a.exclude_nodes().await.unwrap() {
            break held;
        }
        tokio::task::yield_now().await;
    };
    assert!(matches!(b.announce_node().await, Err(StoreError::Conflict)));
    assert!(a.exclude_nodes().await.unwrap().is_none());
    drop(exclusive);
    let back = loop {
        match b.announce_node().await {
            Ok(held) => break held,
            Err(StoreError::Conflict) => tokio::task::yield_now().await,
            Err(e) => panic!("{e}"),
        }
    };
    drop((back, other));
}

/// A database nobody listens on is `Unavailable` or `Timeout`, never a generic backend
/// error, so that the key service can answer as AWS does when a dependency is down.
#[tokio::test]
async fn unreachable_database_is_unavailable() {
    let Some(_url) = test_url() else { return };
    // A port nothing listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = PostgresStore::connect(&format!("postgres://postgres@127.0.0.1:{port}/test"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable(_) | StoreError::Timeout(_)),
        "{err:?}"
    );
}

/// `copy_sqlite_to_postgres` copies every record and every sealed byte verbatim (versions,
/// tag order and material order included), refuses a non-empty target, and counts match.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_copies_verbatim_into_an_empty_database() {
    use trent_store::{copy_sqlite_to_postgres, AccessKeyRecord, CopyError, SqliteStore};

    let Some(url) = test_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = SqliteStore::open(&dir.path().join("trent.db"))
        .await
        .unwrap();
    let mut keys = Vec::new();
    for i in 0..3 {
        let (mut key, material) = new_key();
        key.tags = vec![
            ("z".to_owned(), i.to_string()),
            ("a".to_owned(), "first-set-second".to_owned()),
        ];
        source.create_key(&key, Some(&material)).await.unwrap();
        let rotated = MaterialRecord {
            material_id: uuid::Uuid::new_v4().to_string(),
            sealed: vec![i; 48],
            ..material.clone()
        };
        source.add_material(&rotated).await.unwrap();
        let key = source
            .update_key(&KeyRecord {
                current_material_id: Some(rotated.material_id.clone()),
                state: KeyState::Disabled,
                ..key
            })
            .await
            .unwrap();
        source
            .create_alias(&AliasRecord {
                account_id: key.account_id.to_string(),
                region: key.region.to_string(),
                alias_name: format!("alias/copied-{i}"),
                target_key_id: key.key_id.clone(),
                created_at: 5,
                updated_at: 6,
            })
            .await
            .unwrap();
        keys.push((key, vec![material, rotated]));
    }
    // A key with imported key material (migration 0006): no `key_materials` rows, two
    // imported materials, one of them deleted (no sealed bytes).
    let (mut external, _) = new_key();
    external.origin = OriginType::External;
    external.state = KeyState::PendingImport;
    external.current_material_id = None;
    source.create_key(&external, None).await.unwrap();
    let external_id = external.key_id.clone();
    let imported = |id: &str, sealed: Option<Vec<u8>>| trent_store::ImportedMaterialRecord {
        key_id: external_id.clone(),
        material_id: id.to_owned(),
        seq: 0,
        created_at: 11,
        description: Some(format!("material {id}")),
        expiration_model: sealed
            .as_ref()
            .map(|_| trent_store::ExpirationModelType::KeyMaterialExpires),
        valid_to: sealed.as_ref().map(|_| 12),
        sealed,
        rotated_at: None,
        rotation_type: None,
    };
    let put_imported = |key: KeyRecord, material| {
        let mut t = Transaction::new("put_imported_materials");
        t.update_key(key).put_imported_material(material);
        t
    };
    let external = source
        .transact(&put_imported(
            KeyRecord {
                current_material_id: Some("m1".to_owned()),
                state: KeyState::Enabled,
                ..external
            },
            imported("m1", Some(vec![1, 0, 255])),
        ))
        .await
        .unwrap()
        .into_keys()
        .remove(0);
    let external = source
        .transact(&put_imported(
            KeyRecord {
                state: KeyState::PendingImport,
                ..external
            },
            imported("m2", None),
        ))
        .await
        .unwrap()
        .into_keys()
        .remove(0);
    let external_materials = source.imported_materials(&external.key_id).await.unwrap();
    assert_eq!(external_materials.len(), 2);

    let access_key = AccessKeyRecord {
        access_key_id: "AKIACOPYTEST00000001".to_owned(),
        account_id: "111122223333".to_owned(),
        principal_arn: "arn:aws:iam::111122223333:user/admin".to_owned(),
        sealed_secret: vec![0, 255, 7, 8],
        created_at: 9,
        status: "Active".to_owned(),
    };
    source.put_access_key(&access_key).await.unwrap();
    source
        .init_meta("root_key_check", &[1, 0, 2])
        .await
        .unwrap();

    // A custom key store (disconnected, changed once) and a key in it: the store before
    // its key, verbatim.
    let custom_key_store = trent_store::CustomKeyStoreRecord {
        custom_key_store_id: "cks-0123456789abcdef0".into(),
        account_id: trent_store::AccountId::parse("111122223333").unwrap(),
        region: trent_store::Region::parse("us-east-1").unwrap(),
        name: "copied".into(),
        store_type: trent_store::CustomKeyStoreType::AwsCloudhsm,
        cloud_hsm_cluster_id: Some("cluster-234567abcdefg".into()),
        trust_anchor_certificate: Some("-----BEGIN CERTIFICATE-----\nMIIB\n".into()),
        sealed_secret: Some(vec![1, 9, 9, 7]),
        xks_proxy_uri_endpoint: None,
        xks_proxy_uri_path: None,
        xks_proxy_connectivity: None,
        xks_proxy_vpc_endpoint_service_name: None,
        xks_proxy_vpc_endpoint_service_owner: None,
        xks_proxy_access_key_id: None,
        connection_state: trent_store::ConnectionStateType::Disconnected,
        connection_error_code: None,
        created_at: 5,
        version: 3,
    };
    source
        .create_custom_key_store(&custom_key_store)
        .await
        .unwrap();
    let (mut in_store, in_store_material) = new_key();
    in_store.origin = OriginType::AwsCloudhsm;
    in_store.custom_key_store_id = Some(custom_key_store.custom_key_store_id.clone());
    source
        .create_key(&in_store, Some(&in_store_material))
        .await
        .unwrap();

    let (_schema, options) = new_schema(&url).await;
    let target = PostgresStore::open(options).await.unwrap();
    let report = copy_sqlite_to_postgres(&source, &target).await.unwrap();
    assert_eq!(
        target
            .custom_key_store(&custom_key_store.custom_key_store_id)
            .await
            .unwrap(),
        Some(custom_key_store.clone())
    );
    assert_eq!(
        target.key(&in_store.key_id).await.unwrap().as_ref(),
        Some(&in_store)
    );
    assert_eq!(
        (
            report.meta,
            report.keys,
            report.materials,
            report.aliases,
            report.access_keys
        ),
        (1, 5, 7, 3, 1)
    );
    assert_eq!(
        target.key(&external.key_id).await.unwrap().as_ref(),
        Some(&external)
    );
    assert_eq!(
        target.imported_materials(&external.key_id).await.unwrap(),
        external_materials
    );
    assert!(target.materials(&external.key_id).await.unwrap().is_empty());
    for (key, materials) in &keys {
        assert_eq!(target.key(&key.key_id).await.unwrap().as_ref(), Some(key));
        assert!(target.materials(&key.key_id).await.unwrap() == *materials);
    }
    assert_eq!(
        target
            .list_aliases("111122223333", "us-east-1", None, None, 100)
            .await
            .unwrap(),
        source
            .list_aliases("111122223333", "us-east-1", None, None, 100)
            .await
            .unwrap()
    );
    assert!(target.access_keys().await.unwrap() == vec![access_key]);
    assert_eq!(
        target.meta("root_key_check").await.unwrap().as_deref(),
        Some(&[1, 0, 2][..])
    );

    let again = copy_sqlite_to_postgres(&source, &target).await.unwrap_err();
    assert!(matches!(again, CopyError::TargetNotEmpty), "{again:?}");
    assert_eq!(target.counts().await.unwrap(), [1, 5, 7, 3, 1]);
}

/// Migration 0011 counts the customer managed keys a store already holds.
#[tokio::test]
async fn the_key_count_migration_counts_existing_keys() {
    let Some(url) = test_url() else { return };
    let (_schema, options) = new_schema(&url).await;
    let store = PostgresStore::open(options.clone()).await.unwrap();
    let expected = trent_store::conformance::keys_to_count(&store).await;
    // Back to schema 10, keys and all.
    let mut conn = PgConnection::connect_with(&options).await.unwrap();
    for statement in [
        "DROP TABLE key_counts",
        "DELETE FROM schema_migrations WHERE version = 11",
    ] {
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let store = PostgresStore::open(options).await.unwrap();
    trent_store::conformance::assert_key_counts(&store, &expected).await;
}
