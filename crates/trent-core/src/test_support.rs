//! What the unit tests of several modules share: a real key service on a SQLite file.

use std::sync::Arc;

use trent_crypto::{FileRootKey, RootKeyProvider};
use trent_store::{SqliteStore, Store};

use crate::{BootstrapOptions, KeyService, ServiceConfig, SystemClock};

/// A key service for `account` on a SQLite file and a file root key in a fresh directory
/// (deleted when the returned `TempDir` is dropped), and the store it writes to.
pub(crate) async fn sqlite_service(
    account: &str,
) -> (KeyService, Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let root: Arc<dyn RootKeyProvider> =
        Arc::new(FileRootKey::create(&dir.path().join("root.key")).unwrap());
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
    let (service, _) = KeyService::open(
        store.clone(),
        root,
        Arc::new(SystemClock),
        ServiceConfig::default(),
        BootstrapOptions {
            account_id: account.into(),
            admin_access_key_id: None,
            admin_secret_access_key: None,
        },
        |_, _| Ok(()),
    )
    .await
    .unwrap();
    (service, store, dir)
}

/// A key record of the default test account in `us-east-1` with this storage id and state
/// (an enabled-style symmetric key without material or policy): the store's own fixture
/// ([`trent_store::conformance::new_key`]) with the fields these tests name.
pub(crate) fn key_record(key_id: &str, state: trent_wire::KeyState) -> trent_store::KeyRecord {
    let (mut record, _) = trent_store::conformance::new_key("111122223333", "us-east-1");
    record.key_id = key_id.to_owned();
    record.state = state;
    record.created_at = 0;
    record.current_material_id = None;
    record.policy = String::new();
    record
}
