//! The store conformance suite: every behaviour the [`Store`] trait promises, as plain async
//! functions that each backend's tests run unchanged.
//!
//! A case may run against a store that already holds data (other cases, earlier runs, a
//! PostgreSQL database shared by a CI job): it makes its own random key ids, accounts and
//! names and looks only at those. A case panics on the first deviation, saying what broke.
//!
//! A backend's test file runs every case as its own `#[tokio::test]` with
//! [`store_conformance_tests!`](crate::store_conformance_tests), or all of them in one go
//! with [`run_all`].

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;

use crate::{
    AccessKeyRecord, AccountId, AliasRecord, Change, ConnectionErrorCodeType, ConnectionStateType,
    CreateGrantOutcome, CustomKeyStoreRecord, CustomKeyStoreType, ExpirationModelType, GrantLimits,
    GrantRecord, ImportedMaterialRecord, InvalidRecord, KeyArn, KeyManagerType, KeyRecord, KeySpec,
    KeyState, KeyUsageRecord, KeyUsageType, MaterialRecord, OriginType, Region, Resealed,
    RotationRecord, RotationSchedule, RotationType, SealedKind, SealedSecret, Store, StoreError,
    Transaction,
};

/// Lists the cases once, for [`run_all`] and `store_conformance_tests!`, so that no backend
/// can skip one: expands to `callback! { args; case, case, ... }`.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_cases {
    (($($callback:tt)+) $($args:tt)*) => {
        $($callback)+! { $($args)*;
            create_and_read_key_round_trips,
            duplicate_key_id_is_already_exists,
            create_key_refuses_inconsistent_records,
            update_key_with_current_version_bumps_it,
            update_key_with_stale_version_conflicts,
            update_missing_key_is_not_found,
            update_key_keeps_identity,
            update_key_replaces_tags_in_order,
            key_policy_round_trips_and_updates_with_the_version_check,
            list_keys_pages_in_key_id_order,
            list_keys_isolates_accounts_and_regions,
            materials_are_listed_oldest_first,
            duplicate_material_is_already_exists,
            add_material_to_missing_key_is_not_found,
            sealed_bytes_round_trip_exactly,
            alias_lifecycle,
            update_or_delete_missing_alias_is_not_found,
            list_aliases_pages_and_filters,
            list_aliases_isolates_accounts_and_regions,
            access_keys_round_trip,
            meta_existing_value_wins,
            meta_init_race_agrees,
            racing_updates_of_one_version_have_one_winner,
            concurrent_updates_lose_nothing,
            lease_is_exclusive_until_released,
            expired_lease_can_be_taken_over,
            racing_lease_acquirers_have_one_winner,
            rotation_schedule_round_trips_and_bumps_the_key_version,
            rotate_key_makes_new_material_current_and_records_it,
            rotate_key_with_stale_version_writes_nothing,
            rotations_due_lists_enabled_due_schedules,
            delete_key_removes_the_key_and_everything_of_it,
            deletions_due_lists_keys_past_their_date,
            key_usage_keeps_the_latest_and_skips_missing_keys,
            grant_round_trips_and_is_deleted_once,
            grant_on_missing_key_is_not_found,
            duplicate_grant_id_is_already_exists,
            named_grant_retry_returns_the_original,
            grant_limits_are_enforced,
            racing_named_grants_create_one,
            list_grants_pages_and_filters,
            list_retirable_grants_pages_across_keys_of_a_region,
            grant_changes_are_announced,
            imported_material_lifecycle,
            key_without_material_must_say_so,
            replica_copies_material_history_under_the_source_version_check,
            rotate_keys_rotates_every_region_key_or_none,
            update_keys_moves_the_rotation_schedule_or_writes_nothing,
            delete_key_and_update_is_one_transaction,
            imported_replicas_and_multi_key_imports_are_one_transaction,
            a_transaction_is_all_or_nothing_across_keys,
            transaction_changes_are_announced_on_commit,
            sealed_secrets_are_listed_and_resealed_in_one_transaction,
            custom_key_store_lifecycle,
            racing_create_key_and_delete_custom_key_store_never_orphan_a_key,
            reset_account_empties_one_account,
            meta_swap_is_compare_and_set,
            customer_key_count_follows_creates_and_deletes,
            key_version_is_the_stored_version,
            key_census_counts_keys_by_state_spec_and_manager,
        }
    };
}

/// Defines one `#[tokio::test]` per conformance case. `$open` names an async function
/// returning `(Arc<dyn Store>, G)`: the store to test and whatever must outlive the test
/// (a temporary directory, a database handle, `()`).
///
/// ```no_run
/// use std::sync::Arc;
///
/// use trent_store::{SqliteStore, Store};
///
/// async fn fresh() -> (Arc<dyn Store>, tempfile::TempDir) {
///     let dir = tempfile::tempdir().unwrap();
///     let store = SqliteStore::open(&dir.path().join("trent.db")).await.unwrap();
///     (Arc::new(store), dir)
/// }
///
/// trent_store::store_conformance_tests!(fresh);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($open:path) => {
        $crate::__store_conformance_cases!(($crate::__store_conformance_test) $open);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_conformance_test {
    ($open:path; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (store, _guard) = $open().await;
                $crate::conformance::$case(store).await;
            }
        )+
    };
}

macro_rules! run_each {
    ($store:ident; $($case:ident),+ $(,)?) => {
        $( $case($store.clone()).await; )+
    };
}

/// Runs every case, one after the other, on `store`.
pub async fn run_all(store: Arc<dyn Store>) {
    crate::__store_conformance_cases!((run_each) store);
}

// The multi-record writes the key service makes, as the transactions it builds (see
// `trent-core`: rotation, import, ReplicateKey, UpdatePrimaryRegion, deletion).

/// A rotation of one key; its new version.
async fn rotate_key(
    store: &dyn Store,
    version: i64,
    material: &MaterialRecord,
    rotation: &RotationRecord,
    next_rotation_at: Option<i64>,
) -> Result<i64, StoreError> {
    let mut t = Transaction::new("rotate_key");
    t.rotate_key(version, material.clone(), rotation.clone());
    if let Some(next) = next_rotation_at {
        t.move_next_rotation(&material.key_id, next);
    }
    let committed = store.transact(&t).await?;
    Ok(committed
        .version(&material.key_id)
        .expect("the rotated key's version"))
}

/// Rotations of several keys at once, the first key's schedule moving.
async fn rotate_keys(
    store: &dyn Store,
    rotations: &[(i64, MaterialRecord, RotationRecord)],
    next_rotation_at: Option<i64>,
) -> Result<(), StoreError> {
    let mut t = Transaction::new("rotate_keys");
    for (i, (version, material, rotation)) in rotations.iter().enumerate() {
        t.rotate_key(*version, material.clone(), rotation.clone());
        if let (0, Some(next)) = (i, next_rotation_at) {
            t.move_next_rotation(&material.key_id, next);
        }
    }
    store.transact(&t).await.map(|_| ())
}

/// Keys with their imported materials; the keys as stored.
async fn put_imported_materials(
    store: &dyn Store,
    writes: &[(KeyRecord, Vec<ImportedMaterialRecord>)],
) -> Result<Vec<KeyRecord>, StoreError> {
    let mut t = Transaction::new("put_imported_materials");
    for (key, materials) in writes {
        t.update_key(key.clone());
        for m in materials {
            t.put_imported_material(m.clone());
        }
    }
    Ok(store.transact(&t).await?.into_keys())
}

/// A key with one imported material; the key as stored.
async fn put_imported_material(
    store: &dyn Store,
    key: &KeyRecord,
    material: &ImportedMaterialRecord,
) -> Result<KeyRecord, StoreError> {
    let mut stored =
        put_imported_materials(store, &[(key.clone(), vec![material.clone()])]).await?;
    Ok(stored.remove(0))
}

/// A replica with its materials and rotations, under the source's version check; the
/// source's new version.
async fn create_replica_key(
    store: &dyn Store,
    source_key_id: &str,
    source_version: i64,
    key: &KeyRecord,
    materials: &[MaterialRecord],
    rotations: &[RotationRecord],
) -> Result<i64, StoreError> {
    let mut t = Transaction::new("create_replica_key");
    t.bump_version(source_key_id, source_version)
        .insert_key(key.clone());
    for m in materials {
        t.add_material(m.clone());
    }
    for r in rotations {
        t.record_rotation(r.clone());
    }
    let committed = store.transact(&t).await?;
    Ok(committed
        .version(source_key_id)
        .expect("the source's version"))
}

/// A replica with imported materials (their order is their `seq`), under the source's
/// version check; the source's new version.
async fn create_imported_replica_key(
    store: &dyn Store,
    source_key_id: &str,
    source_version: i64,
    key: &KeyRecord,
    materials: &[ImportedMaterialRecord],
) -> Result<i64, StoreError> {
    let mut t = Transaction::new("create_imported_replica_key");
    t.bump_version(source_key_id, source_version)
        .insert_key(key.clone());
    for m in materials {
        t.put_imported_material(m.clone());
    }
    let committed = store.transact(&t).await?;
    Ok(committed
        .version(source_key_id)
        .expect("the source's version"))
}

/// Several keys updated and a rotation schedule moved: UpdatePrimaryRegion.
async fn update_keys(
    store: &dyn Store,
    keys: &[KeyRecord],
    schedule_from: &str,
    schedule_to: &str,
) -> Result<Vec<KeyRecord>, StoreError> {
    let mut t = Transaction::new("update_keys");
    for k in keys {
        t.update_key(k.clone());
    }
    t.move_rotation_schedule(schedule_from, schedule_to);
    Ok(store.transact(&t).await?.into_keys())
}

/// A key deleted and, in the same transaction, another one updated.
async fn delete_key_and_update(
    store: &dyn Store,
    key_id: &str,
    key_version: i64,
    update: Option<&KeyRecord>,
) -> Result<(), StoreError> {
    let mut t = Transaction::new("delete_key_and_update");
    t.delete_key(key_id, key_version);
    if let Some(u) = update {
        t.update_key(u.clone());
    }
    store.transact(&t).await.map(|_| ())
}

const REGION: &str = "eu-west-3";
const OTHER_REGION: &str = "ap-southeast-2";
const T0: i64 = 1_700_000_000_000;

fn key_arn(text: String) -> KeyArn {
    KeyArn::parse(text).expect("a key ARN")
}

fn region(name: &str) -> Region {
    Region::parse(name).expect("a region")
}

fn account_id(id: &str) -> AccountId {
    AccountId::parse(id).expect("an account id")
}

fn unique() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A random 12-digit account id, so that cases never see each other's keys and aliases.
fn account() -> String {
    format!("{:012}", uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000)
}

/// Opaque "sealed" bytes, distinct per call.
fn sealed() -> Vec<u8> {
    let mut bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
    bytes.extend_from_slice(&[0, 0xff, 0x80, 0x7f]);
    bytes
}

/// A new enabled symmetric key of `account` in `region` (a fresh UUID key id), with its
/// first material: the record every store test starts from.
pub fn new_key(account: &str, region: &str) -> (KeyRecord, MaterialRecord) {
    let key_id = unique();
    let material_id = unique();
    let key = KeyRecord {
        arn: key_arn(format!("arn:aws:kms:{region}:{account}:key/{key_id}")),
        key_id: key_id.clone(),
        account_id: account_id(account),
        region: self::region(region),
        version: 1,
        created_at: T0,
        description: String::new(),
        key_spec: KeySpec::SymmetricDefault,
        key_usage: KeyUsageType::EncryptDecrypt,
        origin: OriginType::AwsKms,
        state: KeyState::Enabled,
        key_manager: KeyManagerType::Customer,
        custom_key_store_id: None,
        xks_key_id: None,
        deletion_date: None,
        pending_deletion_window_days: None,
        current_material_id: Some(material_id.clone()),
        multi_region: false,
        mrk_id: None,
        primary_region: None,
        tags: Vec::new(),
        policy: format!("{{\"Statement\":[{{\"Principal\":{{\"AWS\":\"{account}\"}}}}]}}"),
    };
    let material = MaterialRecord {
        key_id,
        material_id,
        created_at: T0,
        sealed: sealed(),
    };
    (key, material)
}

async fn created_key(store: &dyn Store, account: &str, region: &str) -> KeyRecord {
    let (key, material) = new_key(account, region);
    store
        .create_key(&key, Some(&material))
        .await
        .expect("create_key of a fresh key");
    key
}

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn new_alias(account: &str, region: &str, name: &str, target: &str) -> AliasRecord {
    AliasRecord {
        account_id: account.to_owned(),
        region: region.to_owned(),
        alias_name: name.to_owned(),
        target_key_id: target.to_owned(),
        created_at: T0,
        updated_at: T0,
    }
}

async fn stored_key(store: &dyn Store, key_id: &str) -> KeyRecord {
    store
        .key(key_id)
        .await
        .expect("key()")
        .unwrap_or_else(|| panic!("key {key_id} should exist"))
}

/// Every key of `account`/`region`, read page by page.
async fn all_keys(store: &dyn Store, account: &str, region: &str, page: u32) -> Vec<KeyRecord> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let batch = store
            .list_keys(account, region, after.as_deref(), page)
            .await
            .expect("list_keys");
        assert!(
            batch.len() <= page as usize,
            "list_keys returned {} keys for a limit of {page}",
            batch.len()
        );
        // Each page must start strictly after the cursor and be in order; otherwise paging
        // would never end.
        let mut previous = after.clone();
        for key in &batch {
            assert!(
                previous.as_deref().is_none_or(|p| key.key_id.as_str() > p),
                "list_keys is not in key id order strictly after {previous:?}: {}",
                key.key_id
            );
            previous = Some(key.key_id.clone());
        }
        match batch.last() {
            None => return all,
            Some(last) => after = Some(last.key_id.clone()),
        }
        all.extend(batch);
    }
}

/// Every alias of `account`/`region` (optionally of one key), read page by page.
async fn all_aliases(
    store: &dyn Store,
    account: &str,
    region: &str,
    target: Option<&str>,
    page: u32,
) -> Vec<AliasRecord> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let batch = store
            .list_aliases(account, region, target, after.as_deref(), page)
            .await
            .expect("list_aliases");
        assert!(
            batch.len() <= page as usize,
            "list_aliases returned {} aliases for a limit of {page}",
            batch.len()
        );
        let mut previous = after.clone();
        for alias in &batch {
            assert!(
                previous
                    .as_deref()
                    .is_none_or(|p| alias.alias_name.as_str() > p),
                "list_aliases is not in name order strictly after {previous:?}: {}",
                alias.alias_name
            );
            previous = Some(alias.alias_name.clone());
        }
        match batch.last() {
            None => return all,
            Some(last) => after = Some(last.alias_name.clone()),
        }
        all.extend(batch);
    }
}

/// A key and its first material come back exactly as written, tags in their order.
pub async fn create_and_read_key_round_trips(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let (mut key, material) = new_key(&account, REGION);
    key.description = "Ünïcödé \"quoted\" 'single' -- ; DROP TABLE keys; \u{1F511}".to_owned();
    key.key_spec = KeySpec::Rsa4096;
    key.key_usage = KeyUsageType::SignVerify;
    key.origin = OriginType::External;
    key.state = KeyState::PendingDeletion;
    key.key_manager = KeyManagerType::Aws;
    // A key of a custom key store needs the store.
    let cks = new_custom_key_store(account.as_str(), "round-trip");
    store
        .create_custom_key_store(&cks)
        .await
        .expect("custom key store");
    key.custom_key_store_id = Some(cks.custom_key_store_id.clone());
    key.deletion_date = Some(T0 + 7 * 86_400_000);
    key.pending_deletion_window_days = Some(7);
    key.multi_region = true;
    key.mrk_id = Some(format!("mrk-{}", unique().replace('-', "")));
    key.primary_region = Some(region(OTHER_REGION));
    key.tags = tags(&[
        ("zeta", "last-set-first"),
        ("Alpha", ""),
        ("ключ", "значение"),
        ("a:b/c=d+e-f@g", "  spaces  "),
    ]);
    store
        .create_key(&key, Some(&material))
        .await
        .expect("create_key");
    assert_eq!(
        store.key(&key.key_id).await.expect("key()"),
        Some(key.clone())
    );
    assert_eq!(
        store.materials(&key.key_id).await.expect("materials"),
        vec![material],
        "the first material"
    );

    let (plain, plain_material) = new_key(&account, REGION);
    store
        .create_key(&plain, Some(&plain_material))
        .await
        .expect("create_key without tags");
    assert_eq!(store.key(&plain.key_id).await.expect("key()"), Some(plain));

    assert_eq!(
        store.key(&unique()).await.expect("key() of a missing key"),
        None
    );
}

/// A taken key id is `AlreadyExists`, and the existing key and its material are untouched.
pub async fn duplicate_key_id_is_already_exists(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let (mut key, material) = new_key(&account, REGION);
    key.tags = tags(&[("owner", "first")]);
    store
        .create_key(&key, Some(&material))
        .await
        .expect("create_key");

    let mut again = key.clone();
    again.description = "second".to_owned();
    again.tags = tags(&[("owner", "second")]);
    let second_material = MaterialRecord {
        key_id: key.key_id.clone(),
        material_id: unique(),
        created_at: T0 + 1,
        sealed: sealed(),
    };
    again.current_material_id = Some(second_material.material_id.clone());
    let err = store
        .create_key(&again, Some(&second_material))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyExists),
        "duplicate key id: expected AlreadyExists, got {err:?}"
    );
    assert_eq!(stored_key(store, &key.key_id).await, key);
    assert_eq!(
        store.materials(&key.key_id).await.expect("materials"),
        vec![material],
        "a refused create_key must not add its material to the existing key"
    );
}

/// A tag key given twice, or a first material of another key, is a caller bug: refused
/// with an [`InvalidRecord`] source, and nothing is written.
pub async fn create_key_refuses_inconsistent_records(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let is_invalid_record = |err: &StoreError| {
        matches!(err, StoreError::Backend(_))
            && err
                .source()
                .is_some_and(|s| s.downcast_ref::<InvalidRecord>().is_some())
    };

    let (mut key, material) = new_key(&account, REGION);
    key.tags = tags(&[("dup", "1"), ("other", "x"), ("dup", "2")]);
    let err = store.create_key(&key, Some(&material)).await.unwrap_err();
    assert!(
        is_invalid_record(&err),
        "duplicate tag keys: expected Backend(InvalidRecord), got {err:?}"
    );
    assert_eq!(store.key(&key.key_id).await.expect("key()"), None);
    assert!(store
        .materials(&key.key_id)
        .await
        .expect("materials")
        .is_empty());

    let owner = created_key(store, &account, REGION).await;
    let (key, mut material) = new_key(&account, REGION);
    material.key_id = owner.key_id.clone();
    let err = store.create_key(&key, Some(&material)).await.unwrap_err();
    assert!(
        is_invalid_record(&err),
        "material of another key: expected Backend(InvalidRecord), got {err:?}"
    );
    assert_eq!(store.key(&key.key_id).await.expect("key()"), None);
    assert_eq!(
        store
            .materials(&owner.key_id)
            .await
            .expect("materials")
            .len(),
        1,
        "the other key must not gain a material"
    );

    let mut owner_v2 = owner.clone();
    owner_v2.tags = tags(&[("t", "1"), ("t", "2")]);
    let err = store.update_key(&owner_v2).await.unwrap_err();
    assert!(
        is_invalid_record(&err),
        "update with duplicate tag keys: expected Backend(InvalidRecord), got {err:?}"
    );
    assert_eq!(stored_key(store, &owner.key_id).await, owner);
}

/// An update against the stored version replaces the fields, bumps the version by one and
/// returns the record as stored; the next update builds on it.
pub async fn update_key_with_current_version_bumps_it(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let key = created_key(store, &account(), REGION).await;

    let mut change = key.clone();
    change.description = "now pending deletion".to_owned();
    change.state = KeyState::PendingDeletion;
    change.deletion_date = Some(T0 + 30 * 86_400_000);
    change.pending_deletion_window_days = Some(30);
    change.current_material_id = Some(unique());
    change.multi_region = true;
    change.primary_region = Some(region(OTHER_REGION));
    change.key_spec = KeySpec::Hmac256;
    change.key_usage = KeyUsageType::GenerateVerifyMac;
    change.origin = OriginType::External;
    change.tags = tags(&[("k", "v")]);
    let updated = store.update_key(&change).await.expect("update_key");
    assert_eq!(
        updated,
        KeyRecord {
            version: 2,
            ..change.clone()
        }
    );
    assert_eq!(stored_key(store, &key.key_id).await, updated);

    let mut back = updated.clone();
    back.state = KeyState::Enabled;
    back.deletion_date = None;
    back.pending_deletion_window_days = None;
    back.multi_region = false;
    back.primary_region = None;
    let again = store.update_key(&back).await.expect("second update_key");
    assert_eq!(again, KeyRecord { version: 3, ..back });
    assert_eq!(stored_key(store, &key.key_id).await, again);
}

/// An update made against a version that is no longer stored is `Conflict` and changes
/// nothing.
pub async fn update_key_with_stale_version_conflicts(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let key = created_key(store, &account(), REGION).await;
    let mut first = key.clone();
    first.description = "first writer".to_owned();
    first.tags = tags(&[("writer", "first")]);
    let stored = store.update_key(&first).await.expect("first update");

    let mut stale = key.clone();
    stale.description = "stale writer".to_owned();
    stale.state = KeyState::Disabled;
    stale.tags = tags(&[("writer", "stale")]);
    let err = store.update_key(&stale).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict),
        "stale version: expected Conflict, got {err:?}"
    );
    assert_eq!(
        stored_key(store, &key.key_id).await,
        stored,
        "a conflicting update must change nothing"
    );

    let mut ahead = stored.clone();
    ahead.version += 5;
    let err = store.update_key(&ahead).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict),
        "future version: expected Conflict, got {err:?}"
    );
    assert_eq!(stored_key(store, &key.key_id).await, stored);
}

/// Updating a key that does not exist is `NotFound` and creates nothing.
pub async fn update_missing_key_is_not_found(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (key, _) = new_key(&account(), REGION);
    let err = store.update_key(&key).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound),
        "missing key: expected NotFound, got {err:?}"
    );
    assert_eq!(store.key(&key.key_id).await.expect("key()"), None);
}

/// A key's identity (account, region, ARN, creation time, key manager, custom key store)
/// never changes: an update that carries other values keeps the stored ones and returns
/// them.
pub async fn update_key_keeps_identity(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let key = created_key(store, &account, REGION).await;
    let mut change = key.clone();
    change.account_id = account_id("999999999999");
    change.region = region(OTHER_REGION);
    change.arn = key_arn(format!(
        "arn:aws:kms:{OTHER_REGION}:999999999999:key/{}",
        key.key_id
    ));
    change.created_at = T0 + 1;
    change.key_manager = KeyManagerType::Aws;
    change.custom_key_store_id = Some("cks-1234567890abcdef0".to_owned());
    change.description = "changed".to_owned();
    let updated = store.update_key(&change).await.expect("update_key");
    let expected = KeyRecord {
        version: 2,
        description: "changed".to_owned(),
        ..key.clone()
    };
    assert_eq!(updated, expected, "update_key's result keeps the identity");
    assert_eq!(stored_key(store, &key.key_id).await, expected);
    assert_eq!(
        all_keys(store, &account, REGION, 10).await,
        vec![expected],
        "the key is still listed under its own account and region"
    );
}

/// An update replaces the whole tag list and keeps the order it is given in.
pub async fn update_key_replaces_tags_in_order(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let (mut key, material) = new_key(&account, REGION);
    key.tags = tags(&[("a", "1"), ("b", "2"), ("c", "3")]);
    store
        .create_key(&key, Some(&material))
        .await
        .expect("create_key");

    let mut change = key.clone();
    change.tags = tags(&[("c", "3"), ("x", "new"), ("a", "changed")]);
    let updated = store.update_key(&change).await.expect("update_key");
    assert_eq!(updated.tags, change.tags);
    assert_eq!(stored_key(store, &key.key_id).await.tags, change.tags);

    let mut cleared = updated.clone();
    cleared.tags.clear();
    let updated = store.update_key(&cleared).await.expect("update_key");
    assert!(updated.tags.is_empty());
    assert!(stored_key(store, &key.key_id).await.tags.is_empty());

    let mut many = updated.clone();
    many.tags = (0..50)
        .rev()
        .map(|i| (format!("tag-{i:02}"), format!("value-{i}")))
        .collect();
    let updated = store.update_key(&many).await.expect("update_key");
    assert_eq!(stored_key(store, &key.key_id).await, updated);
    assert_eq!(
        updated.tags.first().map(|t| t.0.as_str()),
        Some("tag-49"),
        "tags keep the given order, not sorted"
    );
}

/// A key policy comes back byte for byte (JSON as given: whitespace, line breaks, non-ASCII,
/// the 32 KiB quota's worth of text), in `key` and `list_keys` alike; an update against the
/// current version replaces it, a stale one changes nothing.
pub async fn key_policy_round_trips_and_updates_with_the_version_check(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let (mut key, material) = new_key(&account, REGION);
    key.policy =
        "{\n  \"Version\" : \"2012-10-17\",\r\n\t\"Id\" : \"clé ✓\",\n  \"Statement\" : [ ]\n}"
            .to_owned();
    store
        .create_key(&key, Some(&material))
        .await
        .expect("create_key");
    assert_eq!(stored_key(store, &key.key_id).await, key);
    assert_eq!(
        all_keys(store, &account, REGION, 10).await,
        vec![key.clone()]
    );

    let mut change = key.clone();
    change.policy = format!("{{\"Id\":\"{}\"}}", "x".repeat(32 * 1024));
    let updated = store.update_key(&change).await.expect("update_key");
    assert_eq!(updated.policy, change.policy);
    assert_eq!(updated.version, 2);
    assert_eq!(stored_key(store, &key.key_id).await, updated);

    // Another writer changed the policy meanwhile: the stale write is refused whole.
    let mut stale = key.clone();
    stale.policy = "{\"Id\":\"stale\"}".to_owned();
    let err = store.update_key(&stale).await.expect_err("stale update");
    assert!(
        matches!(err, StoreError::Conflict),
        "stale policy update: expected Conflict, got {err:?}"
    );
    assert_eq!(stored_key(store, &key.key_id).await, updated);
}

/// `list_keys` pages through one account and region in key id (byte) order, strictly
/// after the cursor, with tags.
pub async fn list_keys_pages_in_key_id_order(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let mut expected = Vec::new();
    for i in 0..7 {
        let (mut key, material) = new_key(&account, REGION);
        if i % 2 == 0 {
            key.tags = tags(&[("n", i.to_string().as_str()), ("even", "yes")]);
        }
        store
            .create_key(&key, Some(&material))
            .await
            .expect("create_key");
        expected.push(key);
    }
    // One key updated, so that the listing must show the stored version.
    expected[3].description = "updated".to_owned();
    expected[3] = store.update_key(&expected[3]).await.expect("update_key");
    expected.sort_by(|a, b| a.key_id.cmp(&b.key_id));

    for page in [1, 2, 3, 7, 1000] {
        assert_eq!(
            all_keys(store, &account, REGION, page).await,
            expected,
            "all keys, in pages of {page}"
        );
    }
    let first = store
        .list_keys(&account, REGION, None, 3)
        .await
        .expect("list_keys");
    assert_eq!(first, expected[..3]);
    let rest = store
        .list_keys(&account, REGION, Some(&expected[2].key_id), 1000)
        .await
        .expect("list_keys");
    assert_eq!(rest, expected[3..], "strictly after the cursor");
    let none = store
        .list_keys(&account, REGION, Some(&expected[6].key_id), 10)
        .await
        .expect("list_keys");
    assert!(none.is_empty(), "nothing after the last key");
    let zero = store
        .list_keys(&account, REGION, None, 0)
        .await
        .expect("list_keys");
    assert!(zero.is_empty(), "a limit of 0 returns nothing");
    // A cursor need not be a stored key id: the page starts at the next one.
    let cursor = format!("{}~", &expected[4].key_id[..8]);
    let from_cursor = store
        .list_keys(&account, REGION, Some(&cursor), 1000)
        .await
        .expect("list_keys");
    let after_cursor: Vec<_> = expected
        .iter()
        .filter(|k| k.key_id.as_str() > cursor.as_str())
        .cloned()
        .collect();
    assert_eq!(from_cursor, after_cursor);
}

/// Keys of other accounts and regions never show up in a listing.
pub async fn list_keys_isolates_accounts_and_regions(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (a, b) = (account(), account());
    let a_here = created_key(store, &a, REGION).await;
    let a_there = created_key(store, &a, OTHER_REGION).await;
    let b_here = created_key(store, &b, REGION).await;
    assert_eq!(all_keys(store, &a, REGION, 10).await, vec![a_here]);
    assert_eq!(all_keys(store, &a, OTHER_REGION, 10).await, vec![a_there]);
    assert_eq!(all_keys(store, &b, REGION, 10).await, vec![b_here]);
    assert!(all_keys(store, &b, OTHER_REGION, 10).await.is_empty());
    assert!(all_keys(store, &account(), REGION, 10).await.is_empty());
}

/// Materials are listed in the order they were added (oldest first), even when their
/// creation times tie and their ids sort otherwise; other keys' materials never mix in.
pub async fn materials_are_listed_oldest_first(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let (key, first) = new_key(&account, REGION);
    store
        .create_key(&key, Some(&first))
        .await
        .expect("create_key");
    let other = created_key(store, &account, REGION).await;

    let mut expected = vec![first];
    for (prefix, created_at) in [("zz", T0), ("aa", T0), ("mm", T0 + 1), ("bb", T0 + 1)] {
        let material = MaterialRecord {
            key_id: key.key_id.clone(),
            material_id: format!("{prefix}-{}", unique()),
            created_at,
            sealed: sealed(),
        };
        store.add_material(&material).await.expect("add_material");
        expected.push(material);
        let noise = MaterialRecord {
            key_id: other.key_id.clone(),
            material_id: unique(),
            created_at: T0,
            sealed: sealed(),
        };
        store.add_material(&noise).await.expect("add_material");
    }
    assert_eq!(
        store.materials(&key.key_id).await.expect("materials"),
        expected
    );
    assert_eq!(
        store
            .materials(&other.key_id)
            .await
            .expect("materials")
            .len(),
        5
    );
    assert!(store
        .materials(&unique())
        .await
        .expect("materials of a missing key")
        .is_empty());
}

/// A material id taken within the key is `AlreadyExists` (the same id under another key is
/// fine), and a refused material changes nothing.
pub async fn duplicate_material_is_already_exists(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let (key, first) = new_key(&account, REGION);
    store
        .create_key(&key, Some(&first))
        .await
        .expect("create_key");
    let second = MaterialRecord {
        key_id: key.key_id.clone(),
        material_id: unique(),
        created_at: T0 + 1,
        sealed: sealed(),
    };
    store.add_material(&second).await.expect("add_material");

    for taken in [&first, &second] {
        let again = MaterialRecord {
            sealed: sealed(),
            created_at: T0 + 2,
            ..taken.clone()
        };
        let err = store.add_material(&again).await.unwrap_err();
        assert!(
            matches!(err, StoreError::AlreadyExists),
            "duplicate material: expected AlreadyExists, got {err:?}"
        );
    }
    assert_eq!(
        store.materials(&key.key_id).await.expect("materials"),
        vec![first.clone(), second]
    );

    let other = created_key(store, &account, REGION).await;
    let same_id = MaterialRecord {
        key_id: other.key_id.clone(),
        ..first
    };
    store
        .add_material(&same_id)
        .await
        .expect("a material id is only unique within its key");
}

/// Adding a material to a key that does not exist is `NotFound` and stores nothing.
pub async fn add_material_to_missing_key_is_not_found(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let material = MaterialRecord {
        key_id: unique(),
        material_id: unique(),
        created_at: T0,
        sealed: sealed(),
    };
    let err = store.add_material(&material).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound),
        "missing key: expected NotFound, got {err:?}"
    );
    assert!(store
        .materials(&material.key_id)
        .await
        .expect("materials")
        .is_empty());
    assert_eq!(store.key(&material.key_id).await.expect("key()"), None);
}

/// Sealed bytes, secrets and metadata values come back byte for byte: empty, every byte
/// value, and large.
pub async fn sealed_bytes_round_trip_exactly(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let every_byte: Vec<u8> = (0..=255).collect();
    let large: Vec<u8> = (0..256 * 1024_u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let samples = [Vec::new(), vec![0], every_byte, large];

    let account = account();
    let (key, mut first) = new_key(&account, REGION);
    first.sealed = samples[3].clone();
    store
        .create_key(&key, Some(&first))
        .await
        .expect("create_key");
    let mut expected = vec![first];
    for sample in &samples {
        let material = MaterialRecord {
            key_id: key.key_id.clone(),
            material_id: unique(),
            created_at: T0,
            sealed: sample.clone(),
        };
        store.add_material(&material).await.expect("add_material");
        expected.push(material);
    }
    let stored = store.materials(&key.key_id).await.expect("materials");
    assert_eq!(stored.len(), expected.len());
    for (got, want) in stored.iter().zip(&expected) {
        assert!(
            got == want,
            "material {} changed: {} bytes stored, {} read back",
            want.material_id,
            want.sealed.len(),
            got.sealed.len()
        );
    }

    for sample in &samples {
        let access_key = AccessKeyRecord {
            access_key_id: format!("AKIA{}", unique().replace('-', "").to_uppercase()),
            account_id: account.clone(),
            principal_arn: format!("arn:aws:iam::{account}:user/bytes"),
            sealed_secret: sample.clone(),
            created_at: T0,
            status: "Active".to_owned(),
        };
        store
            .put_access_key(&access_key)
            .await
            .expect("put_access_key");
        let got = store
            .access_key(&access_key.access_key_id)
            .await
            .expect("access_key")
            .expect("the access key just stored");
        assert!(
            got == access_key,
            "access key secret of {} bytes changed",
            sample.len()
        );

        let name = format!("bytes-{}", unique());
        assert!(store.init_meta(&name, sample).await.expect("init_meta") == *sample);
        assert!(
            store.meta(&name).await.expect("meta").as_deref() == Some(sample.as_slice()),
            "meta value of {} bytes changed",
            sample.len()
        );
    }
}

/// An alias is created, read, refused when its name is taken, re-pointed (keeping its
/// creation time), deleted, and can then be created again.
pub async fn alias_lifecycle(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let first = created_key(store, &account, REGION).await;
    let second = created_key(store, &account, REGION).await;
    let name = format!("alias/app-{}", unique());

    let alias = new_alias(&account, REGION, &name, &first.key_id);
    store.create_alias(&alias).await.expect("create_alias");
    assert_eq!(
        store.alias(&account, REGION, &name).await.expect("alias()"),
        Some(alias.clone())
    );

    let taken = AliasRecord {
        target_key_id: second.key_id.clone(),
        created_at: T0 + 5,
        updated_at: T0 + 5,
        ..alias.clone()
    };
    let err = store.create_alias(&taken).await.unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyExists),
        "taken alias name: expected AlreadyExists, got {err:?}"
    );
    assert_eq!(
        store.alias(&account, REGION, &name).await.expect("alias()"),
        Some(alias.clone()),
        "a refused create_alias changes nothing"
    );

    let repoint = AliasRecord {
        target_key_id: second.key_id.clone(),
        created_at: T0 + 99,
        updated_at: T0 + 10,
        ..alias.clone()
    };
    store.update_alias(&repoint).await.expect("update_alias");
    let expected = AliasRecord {
        target_key_id: second.key_id.clone(),
        updated_at: T0 + 10,
        ..alias.clone()
    };
    assert_eq!(
        store.alias(&account, REGION, &name).await.expect("alias()"),
        Some(expected),
        "update_alias sets the target and updated_at, and keeps created_at"
    );

    store
        .delete_alias(&account, REGION, &name)
        .await
        .expect("delete_alias");
    assert_eq!(
        store.alias(&account, REGION, &name).await.expect("alias()"),
        None
    );
    let err = store
        .delete_alias(&account, REGION, &name)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound),
        "deleting a deleted alias: expected NotFound, got {err:?}"
    );

    store
        .create_alias(&alias)
        .await
        .expect("a deleted alias name can be used again");
    assert_eq!(
        store.alias(&account, REGION, &name).await.expect("alias()"),
        Some(alias)
    );
    assert!(store
        .alias(&account, REGION, &format!("{name}-other"))
        .await
        .expect("alias() of a missing alias")
        .is_none());
}

/// Updating or deleting an alias that does not exist is `NotFound` and creates nothing;
/// an alias of the same name in another account or region does not count.
pub async fn update_or_delete_missing_alias_is_not_found(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (account, elsewhere) = (account(), account());
    let key = created_key(store, &account, REGION).await;
    let name = format!("alias/missing-{}", unique());
    store
        .create_alias(&new_alias(&elsewhere, REGION, &name, &key.key_id))
        .await
        .expect("create_alias in another account");
    store
        .create_alias(&new_alias(&account, OTHER_REGION, &name, &key.key_id))
        .await
        .expect("create_alias in another region");

    let missing = new_alias(&account, REGION, &name, &key.key_id);
    let err = store.update_alias(&missing).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound),
        "update of a missing alias: expected NotFound, got {err:?}"
    );
    assert_eq!(
        store.alias(&account, REGION, &name).await.expect("alias()"),
        None
    );
    let err = store
        .delete_alias(&account, REGION, &name)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound),
        "delete of a missing alias: expected NotFound, got {err:?}"
    );
    assert!(store
        .alias(&elsewhere, REGION, &name)
        .await
        .expect("alias()")
        .is_some());
    assert!(store
        .alias(&account, OTHER_REGION, &name)
        .await
        .expect("alias()")
        .is_some());
}

/// `list_aliases` pages in name (byte) order, strictly after the cursor, optionally only
/// the aliases of one key.
pub async fn list_aliases_pages_and_filters(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let one = created_key(store, &account, REGION).await;
    let two = created_key(store, &account, REGION).await;
    let unaliased = created_key(store, &account, REGION).await;
    // Characters whose byte order differs from most locales' collation order.
    let names = [
        "alias/app_2",
        "alias/App",
        "alias/app-1",
        "alias/app/x",
        "alias/zeta",
        "alias/a",
        "alias/app",
        "alias/B-2",
    ];
    let mut expected = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let target = if i % 3 == 0 { &two } else { &one };
        let alias = AliasRecord {
            created_at: T0 + i as i64,
            updated_at: T0 + i as i64,
            ..new_alias(&account, REGION, name, &target.key_id)
        };
        store.create_alias(&alias).await.expect("create_alias");
        expected.push(alias);
    }
    expected.sort_by(|a, b| a.alias_name.cmp(&b.alias_name));

    for page in [1, 3, 1000] {
        assert_eq!(
            all_aliases(store, &account, REGION, None, page).await,
            expected,
            "all aliases, in pages of {page}"
        );
        for key in [&one, &two] {
            let of_key: Vec<_> = expected
                .iter()
                .filter(|a| a.target_key_id == key.key_id)
                .cloned()
                .collect();
            assert_eq!(
                all_aliases(store, &account, REGION, Some(&key.key_id), page).await,
                of_key,
                "aliases of one key, in pages of {page}"
            );
        }
        assert!(
            all_aliases(store, &account, REGION, Some(&unaliased.key_id), page)
                .await
                .is_empty(),
            "a key without aliases"
        );
    }
    let rest = store
        .list_aliases(&account, REGION, None, Some(&expected[3].alias_name), 1000)
        .await
        .expect("list_aliases");
    assert_eq!(rest, expected[4..], "strictly after the cursor");
    let zero = store
        .list_aliases(&account, REGION, None, None, 0)
        .await
        .expect("list_aliases");
    assert!(zero.is_empty(), "a limit of 0 returns nothing");
}

/// Aliases of other accounts and regions never show up in a listing, even for the same
/// name or target.
pub async fn list_aliases_isolates_accounts_and_regions(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (a, b) = (account(), account());
    let key = created_key(store, &a, REGION).await;
    let name = "alias/shared-name";
    let mut records = Vec::new();
    for (account, region) in [(&a, REGION), (&a, OTHER_REGION), (&b, REGION)] {
        let alias = new_alias(account, region, name, &key.key_id);
        store.create_alias(&alias).await.expect("create_alias");
        records.push(alias);
    }
    assert_eq!(
        all_aliases(store, &a, REGION, None, 10).await,
        vec![records[0].clone()]
    );
    assert_eq!(
        all_aliases(store, &a, OTHER_REGION, Some(&key.key_id), 10).await,
        vec![records[1].clone()]
    );
    assert_eq!(
        all_aliases(store, &b, REGION, Some(&key.key_id), 10).await,
        vec![records[2].clone()]
    );
    assert!(all_aliases(store, &b, OTHER_REGION, None, 10)
        .await
        .is_empty());
}

/// Access keys round-trip, a taken id is `AlreadyExists` (and changes nothing), and
/// `access_keys` lists them all.
pub async fn access_keys_round_trip(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let new_access_key = |user: &str, status: &str| AccessKeyRecord {
        access_key_id: format!("AKIA{}", &unique().replace('-', "").to_uppercase()[..16]),
        account_id: account.clone(),
        principal_arn: format!("arn:aws:iam::{account}:user/{user}"),
        sealed_secret: sealed(),
        created_at: T0,
        status: status.to_owned(),
    };
    let admin = new_access_key("admin", "Active");
    let retired = new_access_key("retired", "Inactive");
    for key in [&admin, &retired] {
        store.put_access_key(key).await.expect("put_access_key");
        assert!(
            store
                .access_key(&key.access_key_id)
                .await
                .expect("access_key")
                .as_ref()
                == Some(key),
            "access key {} changed",
            key.access_key_id
        );
    }

    let taken = AccessKeyRecord {
        principal_arn: format!("arn:aws:iam::{account}:user/intruder"),
        sealed_secret: sealed(),
        ..admin.clone()
    };
    let err = store.put_access_key(&taken).await.unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyExists),
        "taken access key id: expected AlreadyExists, got {err:?}"
    );
    assert!(
        store
            .access_key(&admin.access_key_id)
            .await
            .expect("access_key")
            .as_ref()
            == Some(&admin),
        "a refused put_access_key changes nothing"
    );

    assert!(store
        .access_key("AKIANOSUCHKEY0000000")
        .await
        .expect("access_key of a missing id")
        .is_none());
    let listed: Vec<_> = store
        .access_keys()
        .await
        .expect("access_keys")
        .into_iter()
        .filter(|k| k.account_id == account)
        .collect();
    assert_eq!(listed.len(), 2, "both access keys are listed");
    for key in [&admin, &retired] {
        assert!(listed.contains(key), "{} is listed", key.access_key_id);
    }
}

/// `init_meta` sets a value once; later calls get the existing value back.
pub async fn meta_existing_value_wins(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let name = format!("root-key-check-{}", unique());
    assert_eq!(store.meta(&name).await.expect("meta"), None);
    assert_eq!(
        store.init_meta(&name, b"first").await.expect("init_meta"),
        b"first"
    );
    assert_eq!(
        store.init_meta(&name, b"second").await.expect("init_meta"),
        b"first",
        "the existing value wins"
    );
    assert_eq!(
        store.meta(&name).await.expect("meta").as_deref(),
        Some(&b"first"[..])
    );
}

/// Nodes racing to initialise the same name all get the same value back, and it is the
/// one stored.
pub async fn meta_init_race_agrees(store: Arc<dyn Store>) {
    const RACERS: usize = 16;
    let name = format!("race-{}", unique());
    let start = Arc::new(Barrier::new(RACERS));
    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let (store, name, start) = (store.clone(), name.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            store
                .init_meta(&name, format!("value-{i}").as_bytes())
                .await
                .expect("init_meta")
        }));
    }
    let mut results = BTreeSet::new();
    for task in tasks {
        results.insert(task.await.expect("init_meta task"));
    }
    assert_eq!(results.len(), 1, "racers disagree: {results:?}");
    let winner = results.pop_first().expect("one value");
    assert!(
        (0..RACERS).any(|i| winner == format!("value-{i}").as_bytes()),
        "the stored value is one of the racers'"
    );
    assert_eq!(store.meta(&name).await.expect("meta"), Some(winner));
}

/// Writers that all read the same version and then update at once: exactly one wins, the
/// others get `Conflict`, and the stored key is the winner's.
pub async fn racing_updates_of_one_version_have_one_winner(store: Arc<dyn Store>) {
    const WRITERS: usize = 16;
    let key = created_key(store.as_ref(), &account(), REGION).await;
    let all_read = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let (store, key_id, all_read) = (store.clone(), key.key_id.clone(), all_read.clone());
        tasks.push(tokio::spawn(async move {
            let mut key = stored_key(store.as_ref(), &key_id).await;
            all_read.wait().await;
            key.description = format!("writer {i}");
            key.tags.push((format!("writer-{i}"), i.to_string()));
            store.update_key(&key).await
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("writer task") {
            Ok(updated) => winners.push(updated),
            Err(StoreError::Conflict) => {}
            Err(other) => panic!("a racing writer got {other:?}, not Ok or Conflict"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer of version 1 wins");
    let winner = winners.remove(0);
    assert_eq!(winner.version, 2);
    assert_eq!(winner.tags.len(), 1);
    assert_eq!(stored_key(store.as_ref(), &key.key_id).await, winner);
}

/// Writers that re-read and retry on `Conflict` until they succeed: every success is one
/// version, and no success is lost (each writer's tag is in the final key).
pub async fn concurrent_updates_lose_nothing(store: Arc<dyn Store>) {
    const WRITERS: usize = 12;
    let key = created_key(store.as_ref(), &account(), REGION).await;
    let start = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let (store, key_id, start) = (store.clone(), key.key_id.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut conflicts = 0_usize;
            loop {
                let mut key = stored_key(store.as_ref(), &key_id).await;
                key.tags.push((format!("writer-{i}"), i.to_string()));
                match store.update_key(&key).await {
                    Ok(updated) => return (i, updated, conflicts),
                    Err(StoreError::Conflict) => conflicts += 1,
                    Err(other) => panic!("writer {i} got {other:?}, not Ok or Conflict"),
                }
                assert!(conflicts < 10_000, "writer {i} never got through");
            }
        }));
    }
    let mut versions = BTreeSet::new();
    let mut oks = 0_i64;
    for task in tasks {
        let (i, updated, _conflicts) = task.await.expect("writer task");
        assert!(
            updated
                .tags
                .contains(&(format!("writer-{i}"), i.to_string())),
            "writer {i}'s result lacks its tag"
        );
        assert!(
            versions.insert(updated.version),
            "two writers got version {}",
            updated.version
        );
        oks += 1;
    }
    let last = stored_key(store.as_ref(), &key.key_id).await;
    assert_eq!(
        last.version,
        1 + oks,
        "the version counts every successful update"
    );
    assert_eq!(
        versions,
        (2..=1 + oks).collect::<BTreeSet<_>>(),
        "successful updates got consecutive versions"
    );
    for i in 0..WRITERS {
        assert!(
            last.tags.contains(&(format!("writer-{i}"), i.to_string())),
            "writer {i}'s acknowledged update was lost: {:?}",
            last.tags
        );
    }
    assert_eq!(last.tags.len(), WRITERS, "no tag is duplicated");
}

/// A long lease: never expires during a test.
const LONG: Duration = Duration::from_secs(3600);

/// A lease is held by one holder at a time: others cannot take or renew it, its holder can
/// re-acquire and renew it, and once released anyone can take it.
pub async fn lease_is_exclusive_until_released(store: Arc<dyn Store>) {
    let name = format!("job-{}", unique());
    let (a, b) = (
        format!("node-a-{}", unique()),
        format!("node-b-{}", unique()),
    );
    assert!(
        !store
            .renew_lease(&name, &a, LONG)
            .await
            .expect("renew_lease"),
        "renewing a lease nobody took"
    );
    assert!(store
        .try_acquire_lease(&name, &a, LONG)
        .await
        .expect("try_acquire_lease"));
    assert!(
        !store
            .try_acquire_lease(&name, &b, LONG)
            .await
            .expect("try_acquire_lease"),
        "a held lease was taken by another holder"
    );
    assert!(
        !store
            .renew_lease(&name, &b, LONG)
            .await
            .expect("renew_lease"),
        "a non-holder renewed the lease"
    );
    store
        .release_lease(&name, &b)
        .await
        .expect("release by a non-holder is a no-op");
    assert!(
        !store
            .try_acquire_lease(&name, &b, LONG)
            .await
            .expect("try_acquire_lease"),
        "a non-holder's release freed the lease"
    );
    assert!(
        store
            .try_acquire_lease(&name, &a, LONG)
            .await
            .expect("try_acquire_lease"),
        "the holder re-acquires its own lease"
    );
    assert!(store
        .renew_lease(&name, &a, LONG)
        .await
        .expect("renew_lease"));
    let other = format!("job-{}", unique());
    assert!(
        store
            .try_acquire_lease(&other, &b, LONG)
            .await
            .expect("try_acquire_lease"),
        "leases of different names are independent"
    );
    store.release_lease(&name, &a).await.expect("release_lease");
    assert!(
        !store
            .renew_lease(&name, &a, LONG)
            .await
            .expect("renew_lease"),
        "a released lease cannot be renewed"
    );
    assert!(
        store
            .try_acquire_lease(&name, &b, LONG)
            .await
            .expect("try_acquire_lease"),
        "a released lease is free"
    );
}

/// A lease whose time is up belongs to nobody: its holder cannot renew it and another
/// holder takes it over. (A zero lifetime expires at once, so no waiting is needed.)
pub async fn expired_lease_can_be_taken_over(store: Arc<dyn Store>) {
    let name = format!("job-{}", unique());
    let (a, b) = (
        format!("node-a-{}", unique()),
        format!("node-b-{}", unique()),
    );
    assert!(store
        .try_acquire_lease(&name, &a, Duration::ZERO)
        .await
        .expect("try_acquire_lease"));
    assert!(
        !store
            .renew_lease(&name, &a, LONG)
            .await
            .expect("renew_lease"),
        "an expired lease was renewed"
    );
    assert!(
        store
            .try_acquire_lease(&name, &b, LONG)
            .await
            .expect("try_acquire_lease"),
        "an expired lease was not taken over"
    );
    assert!(
        !store
            .try_acquire_lease(&name, &a, LONG)
            .await
            .expect("try_acquire_lease"),
        "the previous holder took the lease back"
    );
    assert!(store
        .renew_lease(&name, &b, LONG)
        .await
        .expect("renew_lease"));
}

/// Many nodes trying to take a free lease (or an expired one) at once: exactly one wins.
pub async fn racing_lease_acquirers_have_one_winner(store: Arc<dyn Store>) {
    const RACERS: usize = 16;
    for expired_first in [false, true] {
        let name = format!("job-{}", unique());
        if expired_first {
            assert!(store
                .try_acquire_lease(&name, "previous", Duration::ZERO)
                .await
                .expect("try_acquire_lease"));
        }
        let start = Arc::new(Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for i in 0..RACERS {
            let (store, name, start) = (store.clone(), name.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let holder = format!("racer-{i}");
                let won = store
                    .try_acquire_lease(&name, &holder, LONG)
                    .await
                    .expect("try_acquire_lease");
                (holder, won)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (holder, won) = task.await.expect("racer task");
            if won {
                winners.push(holder);
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "racers that took the lease (expired first: {expired_first}): {winners:?}"
        );
        assert!(store
            .renew_lease(&name, &winners[0], LONG)
            .await
            .expect("renew_lease"));
    }
}

// --- Keys over time (migration 0005) ---

/// A random time in the distant past, so that due-lists of a store shared with other
/// cases (or earlier runs) are checked only around this case's own records.
fn ancient() -> i64 {
    1 + i64::try_from(uuid::Uuid::new_v4().as_u128() % 1_000_000_000).unwrap() * 1000
}

fn schedule(key_id: &str, enabled: bool, period_days: i32, next: Option<i64>) -> RotationSchedule {
    RotationSchedule {
        key_id: key_id.to_owned(),
        enabled,
        period_days,
        next_rotation_at: next,
    }
}

fn rotation_of(material: &MaterialRecord, at: i64, kind: RotationType) -> RotationRecord {
    RotationRecord {
        key_id: material.key_id.clone(),
        material_id: material.material_id.clone(),
        rotated_at: at,
        rotation_type: kind,
    }
}

fn new_material(key_id: &str, created_at: i64) -> MaterialRecord {
    MaterialRecord {
        key_id: key_id.to_owned(),
        material_id: unique(),
        created_at,
        sealed: sealed(),
    }
}

/// A schedule is stored per key, replaced as a whole, and setting it is a version-checked
/// change of the key.
pub async fn rotation_schedule_round_trips_and_bumps_the_key_version(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let key = created_key(store, &account(), REGION).await;
    assert_eq!(store.rotation_schedule(&key.key_id).await.unwrap(), None);
    let on = schedule(&key.key_id, true, 90, Some(T0 + 5));
    assert_eq!(store.set_rotation_schedule(1, &on).await.unwrap(), 2);
    assert_eq!(
        store.rotation_schedule(&key.key_id).await.unwrap(),
        Some(on)
    );
    assert_eq!(stored_key(store, &key.key_id).await.version, 2);
    let off = schedule(&key.key_id, false, 90, None);
    assert!(matches!(
        store.set_rotation_schedule(1, &off).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.set_rotation_schedule(2, &off).await.unwrap(), 3);
    assert_eq!(
        store.rotation_schedule(&key.key_id).await.unwrap(),
        Some(off)
    );
    assert!(matches!(
        store
            .set_rotation_schedule(1, &schedule(&unique(), true, 365, Some(T0)))
            .await,
        Err(StoreError::NotFound)
    ));
}

/// A rotation adds the material, makes it current, records how and when, and moves the
/// schedule; the history lists every material in order, with or without the first, paged.
pub async fn rotate_key_makes_new_material_current_and_records_it(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let (key, first) = new_key(&account, REGION);
    store.create_key(&key, Some(&first)).await.unwrap();
    let other = created_key(store, &account, REGION).await;
    store
        .set_rotation_schedule(1, &schedule(&key.key_id, true, 365, Some(T0 + 10)))
        .await
        .unwrap();
    let m2 = new_material(&key.key_id, T0 + 10);
    let v = rotate_key(
        store,
        2,
        &m2,
        &rotation_of(&m2, T0 + 10, RotationType::Automatic),
        Some(T0 + 99),
    )
    .await
    .unwrap();
    assert_eq!(v, 3);
    let m3 = new_material(&key.key_id, T0 + 20);
    assert_eq!(
        rotate_key(
            store,
            3,
            &m3,
            &rotation_of(&m3, T0 + 20, RotationType::OnDemand),
            None
        )
        .await
        .unwrap(),
        4
    );
    let stored = stored_key(store, &key.key_id).await;
    assert_eq!(stored.version, 4);
    assert_eq!(
        stored.current_material_id.as_deref(),
        Some(m3.material_id.as_str())
    );
    assert_eq!(
        store.materials(&key.key_id).await.unwrap(),
        vec![first.clone(), m2.clone(), m3.clone()]
    );
    assert_eq!(
        store
            .rotation_schedule(&key.key_id)
            .await
            .unwrap()
            .unwrap()
            .next_rotation_at,
        Some(T0 + 99),
        "an on-demand rotation leaves the schedule alone"
    );
    let all = store
        .material_history(&key.key_id, false, None, 100)
        .await
        .unwrap();
    let summary: Vec<_> = all
        .iter()
        .map(|e| (e.seq, e.material_id.clone(), e.rotated_at, e.rotation_type))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, first.material_id.clone(), None, None),
            (
                2,
                m2.material_id.clone(),
                Some(T0 + 10),
                Some(RotationType::Automatic)
            ),
            (
                3,
                m3.material_id.clone(),
                Some(T0 + 20),
                Some(RotationType::OnDemand)
            ),
        ]
    );
    let rotations = store
        .material_history(&key.key_id, true, None, 1)
        .await
        .unwrap();
    assert_eq!(rotations.len(), 1);
    assert_eq!(rotations[0].material_id, m2.material_id);
    let rest = store
        .material_history(&key.key_id, true, Some(rotations[0].seq), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].material_id, m3.material_id);
    assert_eq!(
        store
            .count_rotations(&key.key_id, RotationType::OnDemand)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_rotations(&key.key_id, RotationType::Automatic)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_rotations(&other.key_id, RotationType::OnDemand)
            .await
            .unwrap(),
        0
    );
    assert!(store
        .material_history(&other.key_id, true, None, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A rotation against a stale version (another writer got there first) writes nothing.
pub async fn rotate_key_with_stale_version_writes_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (key, first) = new_key(&account(), REGION);
    store.create_key(&key, Some(&first)).await.unwrap();
    store
        .update_key(&KeyRecord {
            description: "changed".into(),
            ..key.clone()
        })
        .await
        .unwrap();
    let m = new_material(&key.key_id, T0);
    assert!(matches!(
        rotate_key(
            store,
            1,
            &m,
            &rotation_of(&m, T0, RotationType::OnDemand),
            None
        )
        .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.materials(&key.key_id).await.unwrap(), vec![first]);
    let stored = stored_key(store, &key.key_id).await;
    assert_eq!(stored.current_material_id, key.current_material_id);
    assert_eq!(stored.version, 2);
    assert_eq!(
        store
            .count_rotations(&key.key_id, RotationType::OnDemand)
            .await
            .unwrap(),
        0
    );
    let missing = new_material(&unique(), T0);
    assert!(matches!(
        rotate_key(
            store,
            1,
            &missing,
            &rotation_of(&missing, T0, RotationType::OnDemand),
            None
        )
        .await,
        Err(StoreError::NotFound)
    ));
}

/// Only enabled schedules whose next rotation is due are listed, soonest first.
pub async fn rotations_due_lists_enabled_due_schedules(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let base = ancient();
    let mut mine = Vec::new();
    for (enabled, next) in [
        (true, Some(base + 2)),
        (true, Some(base)),
        (false, None),
        (true, Some(base + 1_000)),
    ] {
        let key = created_key(store, &account, REGION).await;
        store
            .set_rotation_schedule(1, &schedule(&key.key_id, enabled, 90, next))
            .await
            .unwrap();
        mine.push(key.key_id);
    }
    let due: Vec<String> = store
        .rotations_due(base + 2, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key_id)
        .filter(|k| mine.contains(k))
        .collect();
    assert_eq!(due, vec![mine[1].clone(), mine[0].clone()]);
    let due = store.rotations_due(base + 2, 1000).await.unwrap();
    assert!(due
        .iter()
        .all(|s| s.enabled && s.next_rotation_at.is_some_and(|n| n <= base + 2)));
}

/// Deleting a key deletes it with its tags, materials, rotations, last usage and the
/// aliases that point at it, and nothing of other keys; a stale version deletes nothing.
pub async fn delete_key_removes_the_key_and_everything_of_it(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let (mut key, first) = new_key(&account, REGION);
    key.tags = tags(&[("a", "1")]);
    store.create_key(&key, Some(&first)).await.unwrap();
    let other = created_key(store, &account, REGION).await;
    store
        .set_rotation_schedule(1, &schedule(&key.key_id, true, 90, Some(T0)))
        .await
        .unwrap();
    let m = new_material(&key.key_id, T0);
    rotate_key(
        store,
        2,
        &m,
        &rotation_of(&m, T0, RotationType::Automatic),
        Some(T0 + 1),
    )
    .await
    .unwrap();
    for (name, target) in [
        ("alias/doomed-1", &key.key_id),
        ("alias/doomed-2", &key.key_id),
        ("alias/kept", &other.key_id),
    ] {
        store
            .create_alias(&new_alias(&account, REGION, name, target))
            .await
            .unwrap();
    }
    store
        .record_key_usage(&[KeyUsageRecord {
            key_id: key.key_id.clone(),
            operation: "Encrypt".into(),
            used_at: T0,
            event_id: None,
            request_id: None,
        }])
        .await
        .unwrap();

    assert!(matches!(
        store.delete_key(&key.key_id, 2).await,
        Err(StoreError::Conflict)
    ));
    assert!(store.key(&key.key_id).await.unwrap().is_some());
    assert_eq!(store.materials(&key.key_id).await.unwrap().len(), 2);

    store.delete_key(&key.key_id, 3).await.expect("delete_key");
    assert!(store.key(&key.key_id).await.unwrap().is_none());
    assert!(store.materials(&key.key_id).await.unwrap().is_empty());
    assert!(store
        .rotation_schedule(&key.key_id)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .material_history(&key.key_id, false, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.key_last_usage(&key.key_id).await.unwrap().is_none());
    for name in ["alias/doomed-1", "alias/doomed-2"] {
        assert!(store.alias(&account, REGION, name).await.unwrap().is_none());
    }
    assert!(store
        .alias(&account, REGION, "alias/kept")
        .await
        .unwrap()
        .is_some());
    assert_eq!(stored_key(store, &other.key_id).await, other);
    assert!(matches!(
        store.delete_key(&key.key_id, 3).await,
        Err(StoreError::NotFound)
    ));
    // The key id is free again only in the sense that nothing of it remains.
    assert!(matches!(
        store.add_material(&new_material(&key.key_id, T0)).await,
        Err(StoreError::NotFound)
    ));
}

/// Keys whose deletion date is at or before the given time are due, soonest first.
pub async fn deletions_due_lists_keys_past_their_date(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let base = ancient();
    let mut mine = Vec::new();
    for date in [Some(base + 1), Some(base), None, Some(base + 2)] {
        let key = created_key(store, &account, REGION).await;
        store
            .update_key(&KeyRecord {
                state: if date.is_some() {
                    KeyState::PendingDeletion
                } else {
                    KeyState::Enabled
                },
                deletion_date: date,
                pending_deletion_window_days: date.map(|_| 7),
                ..key.clone()
            })
            .await
            .unwrap();
        mine.push(key.key_id);
    }
    let due: Vec<String> = store
        .deletions_due(base + 1, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|k| mine.contains(k))
        .collect();
    assert_eq!(due, vec![mine[1].clone(), mine[0].clone()]);
}

/// The stored use of a key is the latest one recorded; uses of missing keys are skipped
/// without failing the batch.
pub async fn key_usage_keeps_the_latest_and_skips_missing_keys(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let key = created_key(store, &account(), REGION).await;
    let use_at = |key_id: &str, op: &str, at: i64| KeyUsageRecord {
        key_id: key_id.to_owned(),
        operation: op.to_owned(),
        used_at: at,
        event_id: Some(unique()),
        request_id: Some(unique()),
    };
    assert!(store.key_last_usage(&key.key_id).await.unwrap().is_none());
    let later = use_at(&key.key_id, "Decrypt", T0 + 5);
    let missing = use_at(&unique(), "Encrypt", T0);
    store
        .record_key_usage(&[later.clone(), missing.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.key_last_usage(&key.key_id).await.unwrap(),
        Some(later.clone())
    );
    assert!(store
        .key_last_usage(&missing.key_id)
        .await
        .unwrap()
        .is_none());
    // An older use (a batch flushed late by another node) does not replace it.
    store
        .record_key_usage(&[use_at(&key.key_id, "Encrypt", T0 + 1)])
        .await
        .unwrap();
    assert_eq!(
        store.key_last_usage(&key.key_id).await.unwrap(),
        Some(later)
    );
    let newest = use_at(&key.key_id, "Sign", T0 + 9);
    store
        .record_key_usage(std::slice::from_ref(&newest))
        .await
        .unwrap();
    assert_eq!(
        store.key_last_usage(&key.key_id).await.unwrap(),
        Some(newest)
    );
    store.record_key_usage(&[]).await.unwrap();
}

const AWS_GRANT_LIMITS: GrantLimits = GrantLimits {
    per_key: 50_000,
    per_grantee_per_key: 500,
};

/// 64 hex digits, random.
fn grant_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn new_grant(key: &KeyRecord, grantee: &str) -> GrantRecord {
    GrantRecord {
        grant_id: grant_id(),
        key_id: key.key_id.clone(),
        key_arn: key.arn.to_string(),
        name: None,
        grantee_principal: grantee.to_owned(),
        retiring_principal: None,
        issuing_account: key.account_id.to_string(),
        operations: vec!["Encrypt".to_owned(), "Decrypt".to_owned()],
        constraint_equals: None,
        constraint_subset: None,
        created_at: T0,
    }
}

async fn add_grant(store: &dyn Store, grant: &GrantRecord) {
    assert_eq!(
        store.create_grant(grant, AWS_GRANT_LIMITS).await.unwrap(),
        CreateGrantOutcome::Created
    );
}

pub async fn grant_round_trips_and_is_deleted_once(store: Arc<dyn Store>) {
    let account = account();
    let key = created_key(store.as_ref(), &account, REGION).await;
    let mut grant = new_grant(&key, &format!("arn:aws:iam::{account}:role/app"));
    grant.name = Some("my-grant:1/x_y-z".to_owned());
    grant.retiring_principal = Some(format!("arn:aws:iam::{account}:user/ops"));
    grant.operations = vec!["GenerateDataKey".to_owned(), "CreateGrant".to_owned()];
    grant.constraint_equals = Some(vec![
        ("a=b".to_owned(), "x&y%z".to_owned()),
        ("Dept".to_owned(), "".to_owned()),
    ]);
    grant.constraint_subset = Some(Vec::new());
    add_grant(store.as_ref(), &grant).await;
    assert_eq!(
        store.grant(&key.key_id, &grant.grant_id).await.unwrap(),
        Some(grant.clone()),
        "every field round-trips, including separators in constraints"
    );
    // A grant is found only under its own key.
    let other = created_key(store.as_ref(), &account, REGION).await;
    assert_eq!(
        store.grant(&other.key_id, &grant.grant_id).await.unwrap(),
        None
    );
    assert!(matches!(
        store.delete_grant(&other.key_id, &grant.grant_id).await,
        Err(StoreError::NotFound)
    ));
    store
        .delete_grant(&key.key_id, &grant.grant_id)
        .await
        .unwrap();
    assert_eq!(
        store.grant(&key.key_id, &grant.grant_id).await.unwrap(),
        None
    );
    assert!(matches!(
        store.delete_grant(&key.key_id, &grant.grant_id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn grant_on_missing_key_is_not_found(store: Arc<dyn Store>) {
    let (key, _) = new_key(&account(), REGION);
    let grant = new_grant(&key, "arn:aws:iam::111122223333:root");
    assert!(matches!(
        store.create_grant(&grant, AWS_GRANT_LIMITS).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn duplicate_grant_id_is_already_exists(store: Arc<dyn Store>) {
    let key = created_key(store.as_ref(), &account(), REGION).await;
    let grant = new_grant(&key, "arn:aws:iam::111122223333:root");
    add_grant(store.as_ref(), &grant).await;
    let mut again = grant.clone();
    again.grantee_principal = "arn:aws:iam::444455556666:root".to_owned();
    assert!(matches!(
        store.create_grant(&again, AWS_GRANT_LIMITS).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(
        store.grant(&key.key_id, &grant.grant_id).await.unwrap(),
        Some(grant)
    );
}

pub async fn named_grant_retry_returns_the_original(store: Arc<dyn Store>) {
    let key = created_key(store.as_ref(), &account(), REGION).await;
    let mut first = new_grant(&key, "arn:aws:iam::111122223333:role/app");
    first.name = Some("nightly".to_owned());
    add_grant(store.as_ref(), &first).await;

    // The same request again (operations in another order): the original grant.
    let mut retry = new_grant(&key, "arn:aws:iam::111122223333:role/app");
    retry.name = first.name.clone();
    retry.operations.reverse();
    assert_eq!(
        store.create_grant(&retry, AWS_GRANT_LIMITS).await.unwrap(),
        CreateGrantOutcome::Existing(Box::new(first.clone()))
    );
    assert_eq!(
        store.grant(&key.key_id, &retry.grant_id).await.unwrap(),
        None
    );

    // Same name, other parameters: a new grant.
    let mut other = new_grant(&key, "arn:aws:iam::111122223333:role/app");
    other.name = first.name.clone();
    other.constraint_subset = Some(vec![("k".to_owned(), "v".to_owned())]);
    add_grant(store.as_ref(), &other).await;
    // No name: never a retry.
    let unnamed = new_grant(&key, "arn:aws:iam::111122223333:role/app");
    add_grant(store.as_ref(), &unnamed).await;
    let again = GrantRecord {
        grant_id: grant_id(),
        ..unnamed.clone()
    };
    add_grant(store.as_ref(), &again).await;
    // The same name on another key is another grant.
    let key2 = created_key(store.as_ref(), &key.account_id, REGION).await;
    let mut elsewhere = new_grant(&key2, "arn:aws:iam::111122223333:role/app");
    elsewhere.name = first.name.clone();
    add_grant(store.as_ref(), &elsewhere).await;
    assert_eq!(
        store
            .list_grants(&key.key_id, None, None, 100)
            .await
            .unwrap()
            .len(),
        4
    );
}

pub async fn grant_limits_are_enforced(store: Arc<dyn Store>) {
    let limits = GrantLimits {
        per_key: 5,
        per_grantee_per_key: 2,
    };
    let key = created_key(store.as_ref(), &account(), REGION).await;
    let alice = "arn:aws:iam::111122223333:user/alice";
    for _ in 0..2 {
        let g = new_grant(&key, alice);
        assert_eq!(
            store.create_grant(&g, limits).await.unwrap(),
            CreateGrantOutcome::Created
        );
    }
    let third = new_grant(&key, alice);
    assert_eq!(
        store.create_grant(&third, limits).await.unwrap(),
        CreateGrantOutcome::TooManyForGrantee
    );
    assert_eq!(
        store.grant(&key.key_id, &third.grant_id).await.unwrap(),
        None
    );
    for i in 0..3 {
        let g = new_grant(&key, &format!("arn:aws:iam::111122223333:user/u{i}"));
        assert_eq!(
            store.create_grant(&g, limits).await.unwrap(),
            CreateGrantOutcome::Created
        );
    }
    let sixth = new_grant(&key, "arn:aws:iam::111122223333:user/bob");
    assert_eq!(
        store.create_grant(&sixth, limits).await.unwrap(),
        CreateGrantOutcome::TooManyForKey
    );
    // Quotas are per key.
    let key2 = created_key(store.as_ref(), &key.account_id, REGION).await;
    assert_eq!(
        store
            .create_grant(&new_grant(&key2, alice), limits)
            .await
            .unwrap(),
        CreateGrantOutcome::Created
    );
}

pub async fn racing_named_grants_create_one(store: Arc<dyn Store>) {
    const WRITERS: usize = 8;
    let key = created_key(store.as_ref(), &account(), REGION).await;
    let start = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (store, start) = (store.clone(), start.clone());
        let mut g = new_grant(&key, "arn:aws:iam::111122223333:role/app");
        g.name = Some("once".to_owned());
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            store.create_grant(&g, AWS_GRANT_LIMITS).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.expect("writer task").unwrap() {
            CreateGrantOutcome::Created => created += 1,
            CreateGrantOutcome::Existing(_) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(created, 1, "one named grant, however many retries race");
    assert_eq!(
        store
            .list_grants(&key.key_id, None, None, 100)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn list_grants_pages_and_filters(store: Arc<dyn Store>) {
    let key = created_key(store.as_ref(), &account(), REGION).await;
    let other_key = created_key(store.as_ref(), &key.account_id, REGION).await;
    add_grant(
        store.as_ref(),
        &new_grant(&other_key, "arn:aws:iam::111122223333:root"),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let grantee = if i % 2 == 0 {
            "arn:aws:iam::111122223333:user/even"
        } else {
            "arn:aws:iam::111122223333:user/odd"
        };
        let g = new_grant(&key, grantee);
        add_grant(store.as_ref(), &g).await;
        ids.push(g.grant_id);
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_grants(&key.key_id, None, after.as_deref(), 3)
            .await
            .unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        after = page.last().map(|g| g.grant_id.clone());
        seen.extend(page.into_iter().map(|g| g.grant_id));
    }
    assert_eq!(seen, ids, "every grant of the key once, in grant id order");
    let odd = store
        .list_grants(
            &key.key_id,
            Some("arn:aws:iam::111122223333:user/odd"),
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(odd.len(), 3);
    assert!(odd
        .iter()
        .all(|g| g.grantee_principal.ends_with("user/odd")));
    let odd_after = store
        .list_grants(
            &key.key_id,
            Some("arn:aws:iam::111122223333:user/odd"),
            Some(&odd[0].grant_id),
            100,
        )
        .await
        .unwrap();
    assert_eq!(odd_after, odd[1..].to_vec());
}

pub async fn list_retirable_grants_pages_across_keys_of_a_region(store: Arc<dyn Store>) {
    let retiring = format!("arn:aws:iam::{}:role/retirer", account());
    let mut expected = Vec::new();
    for account in [account(), account()] {
        let key = created_key(store.as_ref(), &account, REGION).await;
        for _ in 0..2 {
            let mut g = new_grant(&key, "arn:aws:iam::111122223333:root");
            g.retiring_principal = Some(retiring.clone());
            add_grant(store.as_ref(), &g).await;
            expected.push(g);
        }
        // Not this retiring principal.
        add_grant(
            store.as_ref(),
            &new_grant(&key, "arn:aws:iam::111122223333:root"),
        )
        .await;
    }
    // Keys of another region are not listed.
    let far = created_key(store.as_ref(), &account(), OTHER_REGION).await;
    let mut g = new_grant(&far, "arn:aws:iam::111122223333:root");
    g.retiring_principal = Some(retiring.clone());
    add_grant(store.as_ref(), &g).await;

    expected.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_retirable_grants(&retiring, REGION, after.as_deref(), 3)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|g| g.grant_id.clone());
        seen.extend(page);
    }
    assert_eq!(seen, expected);
    let far_list = store
        .list_retirable_grants(&retiring, OTHER_REGION, None, 10)
        .await
        .unwrap();
    assert_eq!(far_list, vec![g]);
}

/// A grant change is announced on the change feed of a multi-node store as
/// `Change::Grants` of its key (a single-process store's feed ends at once).
pub async fn grant_changes_are_announced(store: Arc<dyn Store>) {
    let mut feed = store.subscribe().await.unwrap();
    let key = created_key(store.as_ref(), &account(), REGION).await;
    let grant = new_grant(&key, "arn:aws:iam::111122223333:root");
    add_grant(store.as_ref(), &grant).await;
    store
        .delete_grant(&key.key_id, &grant.grant_id)
        .await
        .unwrap();
    let wanted = crate::Change::Grants(key.key_id.clone());
    let mut announced = 0;
    // Other cases may share the database: look for this key's changes among the others,
    // with a deadline (the feed of a single-process store ends at once).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while announced < 2 {
        let next = tokio::time::timeout_at(deadline, feed.next()).await;
        match next {
            Ok(Some(change)) if change == wanted => announced += 1,
            // A lagging consumer is told to forget everything: that covers these changes.
            Ok(Some(crate::Change::All)) => announced = 2,
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(_) => panic!("grant changes of {} were not announced", key.key_id),
        }
    }
    assert!(
        announced == 2 || announced == 0,
        "both grant changes announced, or none (single-process store)"
    );
}

// Imported key material (migration 0006).

fn external_key(account: &str) -> KeyRecord {
    let (mut key, _) = new_key(account, REGION);
    key.origin = OriginType::External;
    key.state = KeyState::PendingImport;
    key.current_material_id = None;
    key
}

fn imported(key_id: &str, material_id: &str, valid_to: Option<i64>) -> ImportedMaterialRecord {
    ImportedMaterialRecord {
        key_id: key_id.to_owned(),
        material_id: material_id.to_owned(),
        seq: 0,
        created_at: T0,
        description: Some(format!("material {material_id}")),
        expiration_model: Some(if valid_to.is_some() {
            ExpirationModelType::KeyMaterialExpires
        } else {
            ExpirationModelType::KeyMaterialDoesNotExpire
        }),
        valid_to,
        sealed: Some(sealed()),
        rotated_at: None,
        rotation_type: None,
    }
}

/// A key created without material reads back without one; imported materials are written
/// with their key in one version-checked transaction, keep their order and first import
/// time across re-imports, lose their sealed bytes when deleted, are listed for expiry only
/// while imported, and go with their key.
pub async fn imported_material_lifecycle(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let key = external_key(&account);
    store
        .create_key(&key, None)
        .await
        .expect("create_key without material");
    assert_eq!(stored_key(store, &key.key_id).await, key);
    assert!(store
        .imported_materials(&key.key_id)
        .await
        .unwrap()
        .is_empty());

    let m1_id = unique().replace('-', "");
    let mut first = imported(&key.key_id, &m1_id, Some(T0 + 10));
    let mut enabled = key.clone();
    enabled.state = KeyState::Enabled;
    enabled.current_material_id = Some(m1_id.clone());
    let stored = put_imported_material(store, &enabled, &first)
        .await
        .unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored_key(store, &key.key_id).await, stored);
    first.seq = 1;
    assert_eq!(
        store.imported_materials(&key.key_id).await.unwrap(),
        vec![first.clone()]
    );

    // A stale version writes neither the key nor the material.
    let m2_id = unique().replace('-', "");
    let mut second = imported(&key.key_id, &m2_id, None);
    assert!(matches!(
        put_imported_material(store, &enabled, &second).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.imported_materials(&key.key_id).await.unwrap().len(),
        1
    );
    let mut missing = external_key(&account);
    missing.version = 1;
    assert!(matches!(
        put_imported_material(store, &missing, &imported(&missing.key_id, "x", None)).await,
        Err(StoreError::NotFound)
    ));

    second.created_at = T0 + 5;
    let stored = put_imported_material(store, &stored, &second)
        .await
        .unwrap();
    second.seq = 2;
    assert_eq!(
        store.imported_materials(&key.key_id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );

    // Expiry lists imported materials at or past their ValidTo, nothing before.
    let key_id = key.key_id.clone();
    let due = |now| {
        let key_id = key_id.clone();
        async move {
            store
                .import_expirations_due(now, 1000)
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.key_id == key_id)
                .collect::<Vec<_>>()
        }
    };
    assert!(due(T0 + 9).await.is_empty());
    assert_eq!(due(T0 + 10).await, vec![first.clone()]);

    // Deleting the material's bytes keeps the material (seq, first import) known.
    let mut deleted = first.clone();
    deleted.sealed = None;
    deleted.expiration_model = None;
    deleted.valid_to = None;
    deleted.created_at = T0 + 99;
    deleted.seq = 7;
    let mut pending = stored.clone();
    pending.state = KeyState::PendingImport;
    let stored = put_imported_material(store, &pending, &deleted)
        .await
        .unwrap();
    assert_eq!(stored.state, KeyState::PendingImport);
    deleted.created_at = T0;
    deleted.seq = 1;
    assert_eq!(
        store.imported_materials(&key.key_id).await.unwrap(),
        vec![deleted, second]
    );
    assert!(due(T0 + 1000).await.is_empty());

    store.delete_key(&key.key_id, stored.version).await.unwrap();
    assert!(store
        .imported_materials(&key.key_id)
        .await
        .unwrap()
        .is_empty());
}

/// A key created with a first material names a current one.
pub async fn key_without_material_must_say_so(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let key = external_key(&account);
    let (_, material) = new_key(&account, REGION);
    let material = MaterialRecord {
        key_id: key.key_id.clone(),
        ..material
    };
    let err = store.create_key(&key, Some(&material)).await.unwrap_err();
    assert!(err
        .source()
        .is_some_and(|s| s.downcast_ref::<InvalidRecord>().is_some()));
    assert_eq!(store.key(&key.key_id).await.unwrap(), None);
}

// Multi-Region keys (migration 0007).

/// A multi-Region primary key in `REGION` (storage id `<mrk id>@REGION`) with one rotation.
async fn mrk_primary(store: &dyn Store, account: &str) -> (KeyRecord, Vec<MaterialRecord>) {
    let mrk_id = format!("mrk-{}", unique().replace('-', ""));
    let (mut key, mut first) = new_key(account, REGION);
    key.key_id = format!("{mrk_id}@{REGION}");
    key.arn = key_arn(format!("arn:aws:kms:{REGION}:{account}:key/{mrk_id}"));
    key.multi_region = true;
    key.mrk_id = Some(mrk_id);
    key.primary_region = Some(region(REGION));
    first.key_id = key.key_id.clone();
    store
        .create_key(&key, Some(&first))
        .await
        .expect("create_key");
    let second = MaterialRecord {
        key_id: key.key_id.clone(),
        material_id: unique(),
        created_at: T0 + 1,
        sealed: sealed(),
    };
    let rotation = RotationRecord {
        key_id: key.key_id.clone(),
        material_id: second.material_id.clone(),
        rotated_at: T0 + 1,
        rotation_type: RotationType::OnDemand,
    };
    rotate_key(store, 1, &second, &rotation, None)
        .await
        .expect("rotate_key");
    (stored_key(store, &key.key_id).await, vec![first, second])
}

/// The replica of `primary` in `region`, with the primary's materials re-keyed to it.
fn mrk_replica(
    primary: &KeyRecord,
    materials: &[MaterialRecord],
    region: &str,
) -> (KeyRecord, Vec<MaterialRecord>, Vec<RotationRecord>) {
    let mrk_id = primary.mrk_id.clone().expect("an MRK");
    let key_id = format!("{mrk_id}@{region}");
    let replica = KeyRecord {
        key_id: key_id.clone(),
        region: self::region(region),
        arn: key_arn(format!(
            "arn:aws:kms:{region}:{}:key/{mrk_id}",
            primary.account_id
        )),
        version: 1,
        description: "replica".to_owned(),
        tags: tags(&[("region", region)]),
        ..primary.clone()
    };
    let copies: Vec<MaterialRecord> = materials
        .iter()
        .map(|m| MaterialRecord {
            key_id: key_id.clone(),
            sealed: sealed(),
            ..m.clone()
        })
        .collect();
    let rotations = vec![RotationRecord {
        key_id,
        material_id: materials[1].material_id.clone(),
        rotated_at: T0 + 1,
        rotation_type: RotationType::OnDemand,
    }];
    (replica, copies, rotations)
}

/// A replica is created with every material version of its primary in order and its
/// rotations, only if the primary did not change meanwhile (whose version it bumps).
pub async fn replica_copies_material_history_under_the_source_version_check(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (primary, materials) = mrk_primary(store, &account()).await;
    let (replica, copies, rotations) = mrk_replica(&primary, &materials, OTHER_REGION);

    let stale = create_replica_key(
        store,
        &primary.key_id,
        primary.version - 1,
        &replica,
        &copies,
        &rotations,
    )
    .await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    assert!(store.key(&replica.key_id).await.expect("key").is_none());

    let bumped = create_replica_key(
        store,
        &primary.key_id,
        primary.version,
        &replica,
        &copies,
        &rotations,
    )
    .await
    .expect("create_replica_key");
    assert_eq!(bumped, primary.version + 1);
    assert_eq!(stored_key(store, &replica.key_id).await, replica);
    assert_eq!(
        store.materials(&replica.key_id).await.expect("materials"),
        copies
    );
    let history = store
        .material_history(&replica.key_id, false, None, 10)
        .await
        .expect("material_history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].rotation_type, Some(RotationType::OnDemand));
    assert_eq!(
        store
            .count_rotations(&replica.key_id, RotationType::OnDemand)
            .await
            .expect("count"),
        1
    );

    let again = create_replica_key(
        store,
        &primary.key_id,
        bumped,
        &replica,
        &copies,
        &rotations,
    )
    .await;
    assert!(matches!(again, Err(StoreError::AlreadyExists)), "{again:?}");
    assert_eq!(stored_key(store, &primary.key_id).await.version, bumped);

    let all = store
        .multi_region_keys(primary.mrk_id.as_deref().expect("mrk"))
        .await
        .expect("multi_region_keys");
    let regions: Vec<&str> = all.iter().map(|k| k.region.as_str()).collect();
    let mut sorted = regions.clone();
    sorted.sort_unstable();
    assert_eq!(regions, sorted, "ordered by region");
    assert_eq!(all.len(), 2);
    assert!(all.contains(&replica));
    assert!(store
        .multi_region_keys("mrk-00000000000000000000000000000000")
        .await
        .expect("none")
        .is_empty());
}

/// Rotating a multi-Region key adds the new material to every region-key at once, or, if
/// any of them changed meanwhile, to none.
pub async fn rotate_keys_rotates_every_region_key_or_none(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (primary, materials) = mrk_primary(store, &account()).await;
    let (replica, copies, rotations) = mrk_replica(&primary, &materials, OTHER_REGION);
    let version = create_replica_key(
        store,
        &primary.key_id,
        primary.version,
        &replica,
        &copies,
        &rotations,
    )
    .await
    .expect("create_replica_key");
    store
        .set_rotation_schedule(
            version,
            &RotationSchedule {
                key_id: primary.key_id.clone(),
                enabled: true,
                period_days: 90,
                next_rotation_at: Some(T0 + 10),
            },
        )
        .await
        .expect("schedule");
    let primary = stored_key(store, &primary.key_id).await;
    let material_id = unique();
    let rotation_of = |key: &KeyRecord| {
        (
            key.version,
            MaterialRecord {
                key_id: key.key_id.clone(),
                material_id: material_id.clone(),
                created_at: T0 + 5,
                sealed: sealed(),
            },
            RotationRecord {
                key_id: key.key_id.clone(),
                material_id: material_id.clone(),
                rotated_at: T0 + 5,
                rotation_type: RotationType::Automatic,
            },
        )
    };
    let mut stale = rotation_of(&replica);
    stale.0 -= 1;
    let refused = rotate_keys(store, &[rotation_of(&primary), stale], Some(T0 + 99)).await;
    assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    assert_eq!(stored_key(store, &primary.key_id).await, primary);
    assert_eq!(store.materials(&primary.key_id).await.expect("m").len(), 2);
    assert_eq!(store.materials(&replica.key_id).await.expect("m").len(), 2);

    rotate_keys(
        store,
        &[rotation_of(&primary), rotation_of(&replica)],
        Some(T0 + 99),
    )
    .await
    .expect("rotate_keys");
    for key in [&primary, &replica] {
        let now = stored_key(store, &key.key_id).await;
        assert_eq!(now.current_material_id.as_ref(), Some(&material_id));
        assert_eq!(now.version, key.version + 1);
        let history = store
            .material_history(&key.key_id, true, None, 10)
            .await
            .expect("history");
        assert_eq!(
            history.last().map(|h| h.material_id.as_str()),
            Some(material_id.as_str())
        );
    }
    let schedule = store
        .rotation_schedule(&primary.key_id)
        .await
        .expect("schedule")
        .expect("present");
    assert_eq!(schedule.next_rotation_at, Some(T0 + 99));
    assert!(store
        .rotation_schedule(&replica.key_id)
        .await
        .expect("schedule")
        .is_none());
}

/// UpdatePrimaryRegion's write: every region-key updated and the schedule moved, or, on a
/// stale version, nothing.
pub async fn update_keys_moves_the_rotation_schedule_or_writes_nothing(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (primary, materials) = mrk_primary(store, &account()).await;
    let (replica, copies, rotations) = mrk_replica(&primary, &materials, OTHER_REGION);
    let version = create_replica_key(
        store,
        &primary.key_id,
        primary.version,
        &replica,
        &copies,
        &rotations,
    )
    .await
    .expect("create_replica_key");
    let schedule = RotationSchedule {
        key_id: primary.key_id.clone(),
        enabled: true,
        period_days: 180,
        next_rotation_at: Some(T0 + 10),
    };
    store
        .set_rotation_schedule(version, &schedule)
        .await
        .expect("schedule");
    let primary = stored_key(store, &primary.key_id).await;
    let swapped = |k: &KeyRecord| KeyRecord {
        primary_region: Some(region(OTHER_REGION)),
        ..k.clone()
    };
    let stale = KeyRecord {
        version: replica.version - 1,
        ..swapped(&replica)
    };
    let refused = update_keys(
        store,
        &[swapped(&primary), stale],
        &primary.key_id,
        &replica.key_id,
    )
    .await;
    assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    assert_eq!(stored_key(store, &primary.key_id).await, primary);
    assert_eq!(
        store.rotation_schedule(&primary.key_id).await.expect("s"),
        Some(schedule.clone())
    );

    let stored = update_keys(
        store,
        &[swapped(&primary), swapped(&replica)],
        &primary.key_id,
        &replica.key_id,
    )
    .await
    .expect("update_keys");
    assert_eq!(stored.len(), 2);
    for (before, after) in [&primary, &replica].into_iter().zip(&stored) {
        assert_eq!(after.version, before.version + 1);
        assert_eq!(after.primary_region.as_deref(), Some(OTHER_REGION));
        assert_eq!(stored_key(store, &before.key_id).await, *after);
    }
    assert!(store
        .rotation_schedule(&primary.key_id)
        .await
        .expect("s")
        .is_none());
    assert_eq!(
        store.rotation_schedule(&replica.key_id).await.expect("s"),
        Some(RotationSchedule {
            key_id: replica.key_id.clone(),
            ..schedule
        })
    );
}

/// Deleting the last replica and updating the primary happen together or not at all.
pub async fn delete_key_and_update_is_one_transaction(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let (primary, materials) = mrk_primary(store, &account()).await;
    let (replica, copies, rotations) = mrk_replica(&primary, &materials, OTHER_REGION);
    create_replica_key(
        store,
        &primary.key_id,
        primary.version,
        &replica,
        &copies,
        &rotations,
    )
    .await
    .expect("create_replica_key");
    let primary = stored_key(store, &primary.key_id).await;
    let promoted = KeyRecord {
        state: KeyState::PendingDeletion,
        deletion_date: Some(T0 + 7 * 86_400_000),
        pending_deletion_window_days: Some(7),
        ..primary.clone()
    };
    let stale = KeyRecord {
        version: primary.version - 1,
        ..promoted.clone()
    };
    let refused =
        delete_key_and_update(store, &replica.key_id, replica.version, Some(&stale)).await;
    assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    assert_eq!(stored_key(store, &replica.key_id).await, replica);
    assert_eq!(stored_key(store, &primary.key_id).await, primary);

    delete_key_and_update(store, &replica.key_id, replica.version, Some(&promoted))
        .await
        .expect("delete_key_and_update");
    assert!(store.key(&replica.key_id).await.expect("key").is_none());
    assert!(store
        .materials(&replica.key_id)
        .await
        .expect("m")
        .is_empty());
    assert_eq!(
        stored_key(store, &primary.key_id).await,
        KeyRecord {
            version: primary.version + 1,
            ..promoted
        }
    );
    let left = store
        .multi_region_keys(primary.mrk_id.as_deref().expect("mrk"))
        .await
        .expect("multi_region_keys");
    assert_eq!(left.len(), 1);
}

/// A replica of a multi-Region key with imported material is created with the materials it
/// is given (pending import, in order) under the primary's version check; imported
/// materials of several region-keys are written in one transaction, or none of them.
pub async fn imported_replicas_and_multi_key_imports_are_one_transaction(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let mrk_id = format!("mrk-{}", unique().replace('-', ""));
    let mut primary = external_key(&account);
    primary.key_id = format!("{mrk_id}@{REGION}");
    primary.arn = key_arn(format!("arn:aws:kms:{REGION}:{account}:key/{mrk_id}"));
    primary.multi_region = true;
    primary.mrk_id = Some(mrk_id.clone());
    primary.primary_region = Some(region(REGION));
    store.create_key(&primary, None).await.expect("create_key");
    let (m1, m2) = (unique().replace('-', ""), unique().replace('-', ""));
    let mut enabled = primary.clone();
    enabled.state = KeyState::Enabled;
    enabled.current_material_id = Some(m1.clone());
    let primary = put_imported_material(store, &enabled, &imported(&primary.key_id, &m1, None))
        .await
        .expect("import");
    let primary = put_imported_material(store, &primary, &imported(&primary.key_id, &m2, None))
        .await
        .expect("import");

    let replica_id = format!("{mrk_id}@{OTHER_REGION}");
    let replica = KeyRecord {
        key_id: replica_id.clone(),
        region: region(OTHER_REGION),
        arn: key_arn(format!("arn:aws:kms:{OTHER_REGION}:{account}:key/{mrk_id}")),
        version: 1,
        state: KeyState::PendingImport,
        tags: tags(&[("region", OTHER_REGION)]),
        ..primary.clone()
    };
    let pending: Vec<ImportedMaterialRecord> = store
        .imported_materials(&primary.key_id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| ImportedMaterialRecord {
            key_id: replica_id.clone(),
            sealed: None,
            valid_to: None,
            expiration_model: None,
            seq: 0,
            ..m
        })
        .collect();
    let stale = create_imported_replica_key(
        store,
        &primary.key_id,
        primary.version - 1,
        &replica,
        &pending,
    )
    .await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    assert!(store.key(&replica_id).await.unwrap().is_none());
    let bumped =
        create_imported_replica_key(store, &primary.key_id, primary.version, &replica, &pending)
            .await
            .expect("create_imported_replica_key");
    assert_eq!(bumped, primary.version + 1);
    assert_eq!(stored_key(store, &replica_id).await, replica);
    assert!(store.materials(&replica_id).await.unwrap().is_empty());
    let copied = store.imported_materials(&replica_id).await.unwrap();
    assert_eq!(
        copied
            .iter()
            .map(|m| (m.material_id.clone(), m.seq, m.sealed.is_none()))
            .collect::<Vec<_>>(),
        vec![(m1.clone(), 1, true), (m2.clone(), 2, true)]
    );
    let primary = stored_key(store, &primary.key_id).await;

    // Both region-keys rotate to m2 together; a stale version of one writes nothing.
    let rotated = |k: &KeyRecord| {
        let mut k = k.clone();
        k.current_material_id = Some(m2.clone());
        let mut m = imported(&k.key_id, &m2, None);
        m.rotated_at = Some(T0 + 5);
        m.rotation_type = Some(RotationType::OnDemand);
        (k, vec![m])
    };
    let mut stale_replica = rotated(&replica);
    stale_replica.0.version = 0;
    let r = put_imported_materials(store, &[rotated(&primary), stale_replica]).await;
    assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    assert_eq!(stored_key(store, &primary.key_id).await, primary);
    assert_eq!(
        store.imported_materials(&primary.key_id).await.unwrap()[1].rotated_at,
        None
    );
    let stored = put_imported_materials(store, &[rotated(&primary), rotated(&replica)])
        .await
        .expect("put_imported_materials");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].version, primary.version + 1);
    assert_eq!(stored[1].version, replica.version + 1);
    for (k, s) in [(&primary, &stored[0]), (&replica, &stored[1])] {
        assert_eq!(stored_key(store, &k.key_id).await, *s);
        assert_eq!(s.current_material_id.as_deref(), Some(m2.as_str()));
        let ms = store.imported_materials(&k.key_id).await.unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[1].material_id, m2);
        assert_eq!(ms[1].seq, 2, "an existing material keeps its seq");
        assert_eq!(ms[1].rotated_at, Some(T0 + 5));
        assert!(ms[1].sealed.is_some());
    }
    // A material of another key is refused before anything is written.
    let r = put_imported_materials(
        store,
        &[(stored[0].clone(), vec![imported(&replica_id, &m1, None)])],
    )
    .await;
    assert!(r.is_err());
    assert_eq!(stored_key(store, &primary.key_id).await, stored[0]);
}

// Transactions (`Store::transact`).

/// A transaction writes every record it lists or none: a stale version or a missing key in
/// its last write leaves what its first writes changed (another key's fields, a material,
/// a rotation) as it was; a write to a key the transaction does not hold is refused before
/// anything is written; a committed one returns the keys as stored and their versions.
pub async fn a_transaction_is_all_or_nothing_across_keys(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let (first, first_material) = new_key(&account, REGION);
    store
        .create_key(&first, Some(&first_material))
        .await
        .expect("create_key");
    let second = created_key(store, &account, REGION).await;
    let changed = |k: &KeyRecord, what: &str| KeyRecord {
        description: what.to_owned(),
        ..k.clone()
    };
    let m = new_material(&first.key_id, T0 + 1);
    let writes = |second_version: i64| {
        let mut t = Transaction::new("test");
        t.update_key(changed(&first, "first"))
            .rotate_key(
                2,
                m.clone(),
                rotation_of(&m, T0 + 1, RotationType::OnDemand),
            )
            .update_key(KeyRecord {
                version: second_version,
                ..changed(&second, "second")
            });
        t
    };

    let stale = store.transact(&writes(0)).await;
    assert!(matches!(stale, Err(StoreError::Conflict)), "{stale:?}");
    let mut missing = writes(1);
    missing.bump_version(&unique(), 1);
    let missing = store.transact(&missing).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    let mut foreign = Transaction::new("test");
    foreign
        .update_key(changed(&first, "first"))
        .add_material(new_material(&second.key_id, T0 + 1));
    let err = store.transact(&foreign).await.unwrap_err();
    assert!(
        err.source()
            .is_some_and(|s| s.downcast_ref::<InvalidRecord>().is_some()),
        "a material of a key the transaction does not hold: {err:?}"
    );
    assert_eq!(stored_key(store, &first.key_id).await, first);
    assert_eq!(stored_key(store, &second.key_id).await, second);
    assert_eq!(
        store.materials(&first.key_id).await.unwrap(),
        vec![first_material.clone()]
    );
    assert_eq!(
        store
            .count_rotations(&first.key_id, RotationType::OnDemand)
            .await
            .unwrap(),
        0
    );

    let committed = store.transact(&writes(1)).await.expect("transact");
    assert_eq!(committed.version(&first.key_id), Some(3));
    assert_eq!(committed.version(&second.key_id), Some(2));
    let stored: Vec<KeyRecord> = committed.keys().to_vec();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].version, 2, "as the first write stored it");
    assert_eq!(stored[1], stored_key(store, &second.key_id).await);
    let now = stored_key(store, &first.key_id).await;
    assert_eq!(now.version, 3);
    assert_eq!(now.description, "first");
    assert_eq!(now.current_material_id, Some(m.material_id.clone()));
    assert_eq!(
        store.materials(&first.key_id).await.unwrap(),
        vec![first_material, m]
    );
}

/// What a transaction changed is announced on the change feed of a multi-node store once
/// it commits, and a refused transaction announces nothing (a single-process store's feed
/// ends at once). The feed delivers in commit order, so a refused transaction's change
/// would arrive between the last creation and the changes of the transaction committed
/// after it.
pub async fn transaction_changes_are_announced_on_commit(store: Arc<dyn Store>) {
    let mut feed = store.subscribe().await.unwrap();
    let store = store.as_ref();
    let account = account();
    let first = created_key(store, &account, REGION).await;
    let second = created_key(store, &account, REGION).await;
    let refused_only = created_key(store, &account, REGION).await;
    let mut refused = Transaction::new("test");
    refused
        .update_key(refused_only.clone())
        .bump_version(&first.key_id, 0);
    assert!(matches!(
        store.transact(&refused).await,
        Err(StoreError::Conflict)
    ));
    let mut committed = Transaction::new("test");
    committed
        .bump_version(&first.key_id, 1)
        .update_key(second.clone());
    store.transact(&committed).await.expect("transact");

    let refused_change = Change::Key(refused_only.key_id.clone());
    let mut created = false;
    let mut wanted = vec![
        Change::Key(first.key_id.clone()),
        Change::Key(second.key_id.clone()),
    ];
    // Other cases may share the database: look for these keys' changes among the others,
    // with a deadline (the feed of a single-process store ends at once).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut ended = false;
    while !wanted.is_empty() {
        match tokio::time::timeout_at(deadline, feed.next()).await {
            // Its creation, then nothing more.
            Ok(Some(change)) if change == refused_change => {
                assert!(!created, "a refused transaction announced {change:?}");
                created = true;
            }
            // A lagging consumer is told to forget everything: that covers these changes.
            Ok(Some(Change::All)) => wanted.clear(),
            Ok(Some(change)) if created => wanted.retain(|w| *w != change),
            Ok(Some(_)) => {}
            Ok(None) => {
                ended = true;
                break;
            }
            Err(_) => panic!("the changes of a transaction were not announced: {wanted:?}"),
        }
    }
    assert!(
        ended || wanted.is_empty(),
        "every change announced, or none (single-process store)"
    );
}

/// Changing the root key: every sealed secret of a kind is listed in (owner, item) order,
/// page after page, with its key's ARN for key materials; a batch of new sealed bytes is
/// written in one transaction iff every record still holds the bytes read (else nothing
/// is), and nothing else of the records changes.
pub async fn sealed_secrets_are_listed_and_resealed_in_one_transaction(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let key = created_key(store, &account, REGION).await;
    let added = new_material(&key.key_id, T0 + 1);
    let mut t = Transaction::new("test");
    t.bump_version(&key.key_id, key.version).add_material(added);
    store.transact(&t).await.expect("transact");
    let key = stored_key(store, &key.key_id).await;
    let mut materials = store.materials(&key.key_id).await.unwrap();
    materials.sort_by(|a, b| a.material_id.cmp(&b.material_id));
    assert_eq!(materials.len(), 2);

    // Other cases may share the database: start just before this key.
    let page = |after: Option<(String, String)>, limit: u32| async move {
        store
            .sealed_secrets(
                SealedKind::KeyMaterial,
                after.as_ref().map(|(o, i)| (o.as_str(), i.as_str())),
                limit,
            )
            .await
            .unwrap()
    };
    let first = page(Some((key.key_id.clone(), String::new())), 1).await;
    assert_eq!(first.len(), 1);
    let second = page(Some((first[0].owner.clone(), first[0].item.clone())), 1).await;
    let listed: Vec<SealedSecret> = first.into_iter().chain(second).collect();
    for (l, m) in listed.iter().zip(&materials) {
        assert_eq!(l.kind, SealedKind::KeyMaterial);
        assert_eq!((&l.owner, &l.item), (&m.key_id, &m.material_id));
        assert_eq!(l.key_arn, key.arn.to_string());
        assert_eq!(l.sealed, m.sealed);
    }

    let access = AccessKeyRecord {
        access_key_id: format!("AKIA{}", &unique().replace('-', "").to_uppercase()[..16]),
        account_id: account.clone(),
        principal_arn: format!("arn:aws:iam::{account}:user/admin"),
        sealed_secret: sealed(),
        created_at: T0,
        status: "Active".to_owned(),
    };
    store.put_access_key(&access).await.unwrap();
    let after = access.access_key_id[..access.access_key_id.len() - 1].to_owned();
    let listed_access = store
        .sealed_secrets(SealedKind::AccessKey, Some((&after, "")), 1)
        .await
        .unwrap();
    assert_eq!(listed_access.len(), 1);
    assert_eq!(listed_access[0].owner, access.access_key_id);
    assert_eq!(listed_access[0].sealed, access.sealed_secret);
    let meta_name = format!("conformance-{}", unique());
    let meta_value = store.init_meta(&meta_name, &sealed()).await.unwrap();
    let meta = SealedSecret {
        kind: SealedKind::Meta,
        owner: meta_name.clone(),
        item: String::new(),
        key_arn: String::new(),
        sealed: meta_value.clone(),
    };

    let batch = |records: &[SealedSecret]| -> Vec<Resealed> {
        records
            .iter()
            .map(|old| Resealed {
                old: old.clone(),
                sealed: sealed(),
            })
            .collect()
    };
    // One stale record (changed since it was read): nothing of the batch is written.
    let mut stale = listed.clone();
    stale.push(listed_access[0].clone());
    stale.push(SealedSecret {
        sealed: sealed(),
        ..meta.clone()
    });
    let refused = store.reseal(&batch(&stale)).await;
    assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    let mut now = store.materials(&key.key_id).await.unwrap();
    now.sort_by(|a, b| a.material_id.cmp(&b.material_id));
    assert_eq!(now, materials);
    assert_eq!(
        store.access_key(&access.access_key_id).await.unwrap(),
        Some(access.clone())
    );

    let mut all = listed.clone();
    all.push(listed_access[0].clone());
    all.push(meta);
    let resealed = batch(&all);
    store.reseal(&resealed).await.expect("reseal");
    let mut now = store.materials(&key.key_id).await.unwrap();
    now.sort_by(|a, b| a.material_id.cmp(&b.material_id));
    for (n, r) in now.iter().zip(&resealed) {
        assert_eq!(n.sealed, r.sealed);
    }
    for (n, m) in now.iter().zip(&materials) {
        assert_eq!(
            (&n.key_id, &n.material_id, n.created_at),
            (&m.key_id, &m.material_id, m.created_at)
        );
    }
    assert_eq!(
        stored_key(store, &key.key_id).await,
        key,
        "the key is unchanged"
    );
    assert_eq!(
        store
            .access_key(&access.access_key_id)
            .await
            .unwrap()
            .unwrap()
            .sealed_secret,
        resealed[2].sealed
    );
    assert_eq!(
        store.meta(&meta_name).await.unwrap(),
        Some(resealed[3].sealed.clone())
    );
    // Replayed (the old bytes are gone): a conflict, nothing written.
    assert!(matches!(
        store.reseal(&resealed[..1]).await,
        Err(StoreError::Conflict)
    ));
}

fn new_custom_key_store(account: &str, name: &str) -> CustomKeyStoreRecord {
    CustomKeyStoreRecord {
        custom_key_store_id: format!("cks-{}", &unique().replace('-', "")[..17]),
        account_id: AccountId::parse(account).expect("account"),
        region: Region::parse(REGION).expect("region"),
        name: name.to_owned(),
        store_type: CustomKeyStoreType::AwsCloudhsm,
        cloud_hsm_cluster_id: Some("cluster-234567abcdefg".to_owned()),
        trust_anchor_certificate: Some("-----BEGIN CERTIFICATE-----\nMIIB\n".to_owned()),
        sealed_secret: Some(sealed()),
        xks_proxy_uri_endpoint: None,
        xks_proxy_uri_path: None,
        xks_proxy_connectivity: None,
        xks_proxy_vpc_endpoint_service_name: None,
        xks_proxy_vpc_endpoint_service_owner: None,
        xks_proxy_access_key_id: None,
        connection_state: ConnectionStateType::Disconnected,
        connection_error_code: None,
        created_at: T0,
        version: 1,
    }
}

/// Custom key stores: created once per name and account-region, read back exactly,
/// updated under the version check, deleted only without keys, their secret listed and
/// re-sealed with the other sealed secrets.
pub async fn custom_key_store_lifecycle(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let ks = new_custom_key_store(&account, "store-one");
    store.create_custom_key_store(&ks).await.expect("create");
    assert_eq!(
        store
            .custom_key_store(&ks.custom_key_store_id)
            .await
            .unwrap(),
        Some(ks.clone())
    );
    assert_eq!(
        store
            .custom_key_store("cks-00000000000000000")
            .await
            .unwrap(),
        None
    );
    // The name is taken in this account and region, and so is the id.
    let same_name = new_custom_key_store(&account, "store-one");
    assert!(matches!(
        store.create_custom_key_store(&same_name).await,
        Err(StoreError::AlreadyExists)
    ));
    let same_id = CustomKeyStoreRecord {
        name: "store-other".into(),
        ..ks.clone()
    };
    assert!(matches!(
        store.create_custom_key_store(&same_id).await,
        Err(StoreError::AlreadyExists)
    ));
    // Another account may use the name.
    let elsewhere = new_custom_key_store(&self::account(), "store-one");
    store
        .create_custom_key_store(&elsewhere)
        .await
        .expect("other account");
    let two = new_custom_key_store(&account, "store-two");
    store.create_custom_key_store(&two).await.expect("second");
    let listed = store.custom_key_stores(&account, REGION).await.unwrap();
    let ids: Vec<&str> = listed
        .iter()
        .map(|s| s.custom_key_store_id.as_str())
        .collect();
    let mut expected = vec![
        ks.custom_key_store_id.as_str(),
        two.custom_key_store_id.as_str(),
    ];
    expected.sort();
    assert_eq!(ids, expected, "same creation time: by id");
    assert!(store
        .custom_key_stores(&account, "eu-west-1")
        .await
        .unwrap()
        .is_empty());

    // Updates: version-checked, bumping the version; a taken name is AlreadyExists.
    let mut failed = ks.clone();
    failed.connection_state = ConnectionStateType::Failed;
    failed.connection_error_code = Some(ConnectionErrorCodeType::InvalidCredentials);
    let stored = store
        .update_custom_key_store(&failed)
        .await
        .expect("update");
    assert_eq!(stored.version, 2);
    assert_eq!(
        stored.connection_error_code,
        Some(ConnectionErrorCodeType::InvalidCredentials)
    );
    assert!(matches!(
        store.update_custom_key_store(&failed).await,
        Err(StoreError::Conflict)
    ));
    let clash = CustomKeyStoreRecord {
        name: "store-two".into(),
        ..stored.clone()
    };
    assert!(matches!(
        store.update_custom_key_store(&clash).await,
        Err(StoreError::AlreadyExists)
    ));
    let missing = CustomKeyStoreRecord {
        custom_key_store_id: "cks-00000000000000000".into(),
        ..stored.clone()
    };
    assert!(matches!(
        store.update_custom_key_store(&missing).await,
        Err(StoreError::NotFound)
    ));

    // A key only in a store that exists: refused (Conflict) in none, nothing written.
    let (mut key, material) = new_key(&account, REGION);
    key.custom_key_store_id = Some("cks-00000000000000000".into());
    key.origin = OriginType::AwsCloudhsm;
    assert!(matches!(
        store.create_key(&key, Some(&material)).await,
        Err(StoreError::Conflict)
    ));
    assert!(store.key(&key.key_id).await.unwrap().is_none());
    key.custom_key_store_id = Some(ks.custom_key_store_id.clone());

    // A key in the store: counted, and the store cannot be deleted.
    store.create_key(&key, Some(&material)).await.expect("key");
    assert_eq!(
        store
            .custom_key_store_key_count(&ks.custom_key_store_id)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .custom_key_store_key_count(&two.custom_key_store_id)
            .await
            .unwrap(),
        0
    );
    assert!(matches!(
        store
            .delete_custom_key_store(&ks.custom_key_store_id, 2)
            .await,
        Err(StoreError::Conflict)
    ));
    // Its material row is a reference, not sealed under the root key: never re-sealed.
    let listed_materials = store
        .sealed_secrets(SealedKind::KeyMaterial, Some((&key.key_id, "")), 1)
        .await
        .unwrap();
    assert!(listed_materials.iter().all(|m| m.owner != key.key_id));

    // The store's secret is a sealed secret of its own kind.
    let after = &ks.custom_key_store_id[..ks.custom_key_store_id.len() - 1];
    let secrets = store
        .sealed_secrets(SealedKind::CustomKeyStoreSecret, Some((after, "")), 1)
        .await
        .unwrap();
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].owner, ks.custom_key_store_id);
    assert_eq!(Some(&secrets[0].sealed), ks.sealed_secret.as_ref());
    let resealed = Resealed {
        old: secrets[0].clone(),
        sealed: sealed(),
    };
    store
        .reseal(std::slice::from_ref(&resealed))
        .await
        .expect("reseal");
    let now = store
        .custom_key_store(&ks.custom_key_store_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.sealed_secret.as_ref(), Some(&resealed.sealed));
    assert_eq!(now.version, 2, "re-sealing changes no version");

    // Deleted once without keys, version-checked.
    store
        .delete_key(&key.key_id, key.version)
        .await
        .expect("delete key");
    assert!(matches!(
        store
            .delete_custom_key_store(&ks.custom_key_store_id, 1)
            .await,
        Err(StoreError::Conflict)
    ));
    store
        .delete_custom_key_store(&ks.custom_key_store_id, 2)
        .await
        .expect("delete");
    assert_eq!(
        store
            .custom_key_store(&ks.custom_key_store_id)
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store
            .delete_custom_key_store(&ks.custom_key_store_id, 2)
            .await,
        Err(StoreError::NotFound)
    ));
}

/// `swap_meta` changes an entry only from what it is: created when absent, replaced,
/// deleted; any other expectation is a conflict that changes nothing.
pub async fn meta_swap_is_compare_and_set(store: Arc<dyn Store>) {
    let name = format!("conformance-swap-{}", unique());
    let conflict =
        |r: Result<(), StoreError>| assert!(matches!(r, Err(StoreError::Conflict)), "{r:?}");
    store.swap_meta(&name, None, None).await.expect("absent");
    conflict(store.swap_meta(&name, Some(b"a"), Some(b"b")).await);
    store
        .swap_meta(&name, None, Some(b"a"))
        .await
        .expect("create");
    conflict(store.swap_meta(&name, None, Some(b"x")).await);
    conflict(store.swap_meta(&name, None, None).await);
    assert_eq!(store.meta(&name).await.unwrap(), Some(b"a".to_vec()));
    conflict(store.swap_meta(&name, Some(b"b"), Some(b"c")).await);
    store
        .swap_meta(&name, Some(b"a"), Some(b"b"))
        .await
        .expect("replace");
    conflict(store.swap_meta(&name, Some(b"a"), None).await);
    assert_eq!(store.meta(&name).await.unwrap(), Some(b"b".to_vec()));
    store
        .swap_meta(&name, Some(b"b"), None)
        .await
        .expect("delete");
    assert_eq!(store.meta(&name).await.unwrap(), None);
}

/// CreateKey into a custom key store racing DeleteCustomKeyStore: exactly one wins, and a
/// key never outlives its store.
pub async fn racing_create_key_and_delete_custom_key_store_never_orphan_a_key(
    store: Arc<dyn Store>,
) {
    let account = account();
    for round in 0..20 {
        let ks = new_custom_key_store(&account, &format!("race-{round}"));
        store
            .create_custom_key_store(&ks)
            .await
            .expect("custom key store");
        let (mut key, material) = new_key(&account, REGION);
        key.custom_key_store_id = Some(ks.custom_key_store_id.clone());
        key.origin = OriginType::AwsCloudhsm;
        let creating = {
            let store = Arc::clone(&store);
            let key = key.clone();
            tokio::spawn(async move { store.create_key(&key, Some(&material)).await })
        };
        let deleting = {
            let store = Arc::clone(&store);
            let id = ks.custom_key_store_id.clone();
            tokio::spawn(async move { store.delete_custom_key_store(&id, 1).await })
        };
        let (created, deleted) = (creating.await.unwrap(), deleting.await.unwrap());
        match (&created, &deleted) {
            (Ok(()), Err(StoreError::Conflict)) => {
                assert!(store
                    .custom_key_store(&ks.custom_key_store_id)
                    .await
                    .unwrap()
                    .is_some());
            }
            (Err(StoreError::Conflict), Ok(())) => {
                assert!(store.key(&key.key_id).await.unwrap().is_none());
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}

/// `reset_account` deletes one account's keys (every region), aliases and custom key
/// stores, and nothing of another account.
pub async fn reset_account_empties_one_account(store: Arc<dyn Store>) {
    let (a, b) = (account(), account());
    let mut made = Vec::new();
    for (acct, region) in [(&a, REGION), (&a, OTHER_REGION), (&b, REGION)] {
        let (key, material) = new_key(acct, region);
        store.create_key(&key, Some(&material)).await.expect("key");
        store
            .create_alias(&AliasRecord {
                account_id: acct.clone(),
                region: region.to_owned(),
                alias_name: "alias/reset".into(),
                target_key_id: key.key_id.clone(),
                created_at: T0,
                updated_at: T0,
            })
            .await
            .expect("alias");
        made.push(key);
    }
    let ks = new_custom_key_store(&a, "reset");
    store.create_custom_key_store(&ks).await.expect("store");
    assert_eq!(store.reset_account(Some(&a)).await.unwrap(), 2);
    assert!(store.key(&made[0].key_id).await.unwrap().is_none());
    assert!(store.key(&made[1].key_id).await.unwrap().is_none());
    assert!(store
        .alias(&a, REGION, "alias/reset")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .custom_key_store(&ks.custom_key_store_id)
        .await
        .unwrap()
        .is_none());
    // The other account is untouched.
    assert!(store.key(&made[2].key_id).await.unwrap().is_some());
    assert!(store
        .alias(&b, REGION, "alias/reset")
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.reset_account(Some(&a)).await.unwrap(), 0);
}

/// The key quota's count (`customer_key_count`): customer managed keys of one account and
/// region, kept by every create and delete (including those that fail and write nothing),
/// never counting AWS managed keys or other accounts and regions.
pub async fn customer_key_count_follows_creates_and_deletes(store: Arc<dyn Store>) {
    let (a, b) = (account(), account());
    let count = |account: String, region: &'static str| {
        let store = Arc::clone(&store);
        async move { store.customer_key_count(&account, region).await.unwrap() }
    };
    assert_eq!(count(a.clone(), REGION).await, 0);
    // Many at once: the counts of concurrent creates add up.
    let creates: Vec<_> = (0..40)
        .map(|_| {
            let (store, a) = (Arc::clone(&store), a.clone());
            tokio::spawn(async move {
                let (key, material) = new_key(&a, REGION);
                store.create_key(&key, Some(&material)).await.unwrap();
                key
            })
        })
        .collect();
    let mut keys = Vec::new();
    for create in creates {
        keys.push(create.await.unwrap());
    }
    let (mut aws, material) = new_key(&a, REGION);
    aws.key_manager = KeyManagerType::Aws;
    store.create_key(&aws, Some(&material)).await.unwrap();
    created_key(store.as_ref(), &a, OTHER_REGION).await;
    created_key(store.as_ref(), &b, REGION).await;
    assert_eq!(count(a.clone(), REGION).await, 40);
    assert_eq!(count(a.clone(), OTHER_REGION).await, 1);
    assert_eq!(count(b.clone(), REGION).await, 1);

    // A create that fails writes no count.
    let (mut again, mut material) = new_key(&a, REGION);
    again.key_id.clone_from(&keys[0].key_id);
    material.key_id.clone_from(&keys[0].key_id);
    assert!(matches!(
        store.create_key(&again, Some(&material)).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(count(a.clone(), REGION).await, 40);

    // Deletes: a stale one changes nothing, an AWS managed key is not counted.
    assert!(matches!(
        store.delete_key(&keys[0].key_id, 7).await,
        Err(StoreError::Conflict)
    ));
    store.delete_key(&keys[0].key_id, 1).await.unwrap();
    store.delete_key(&keys[1].key_id, 1).await.unwrap();
    store.delete_key(&aws.key_id, 1).await.unwrap();
    assert_eq!(count(a.clone(), REGION).await, 38);
    created_key(store.as_ref(), &a, REGION).await;
    assert_eq!(count(a.clone(), REGION).await, 39);

    store.reset_account(Some(&a)).await.unwrap();
    assert_eq!(count(a.clone(), REGION).await, 0);
    assert_eq!(count(a.clone(), OTHER_REGION).await, 0);
    assert_eq!(count(b.clone(), REGION).await, 1);
    created_key(store.as_ref(), &a, REGION).await;
    assert_eq!(count(a, REGION).await, 1);
}

/// Keys for checking the key quota's count after an upgrade (migration 0011 counts the
/// keys a store already holds): customer managed keys in two accounts and regions, and an
/// AWS managed key. Returns each (account, region) with its expected count.
pub async fn keys_to_count(store: &dyn Store) -> Vec<(String, &'static str, i64)> {
    let (a, b) = (account(), account());
    let expected = vec![
        (a.clone(), REGION, 5),
        (a.clone(), OTHER_REGION, 2),
        (b, REGION, 3),
    ];
    for (account, region, n) in &expected {
        for _ in 0..*n {
            created_key(store, account, region).await;
        }
    }
    let (mut aws, material) = new_key(&a, REGION);
    aws.key_manager = KeyManagerType::Aws;
    store.create_key(&aws, Some(&material)).await.unwrap();
    expected
}

/// Checks the counts [`keys_to_count`] returned.
pub async fn assert_key_counts(store: &dyn Store, expected: &[(String, &'static str, i64)]) {
    for (account, region, n) in expected {
        assert_eq!(
            store.customer_key_count(account, region).await.unwrap(),
            *n,
            "{account} {region}"
        );
    }
}

/// `key_version`: the version `key` would return, `None` once the key is gone.
pub async fn key_version_is_the_stored_version(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let account = account();
    let key = created_key(store, &account, REGION).await;
    assert_eq!(store.key_version(&key.key_id).await.unwrap(), Some(1));
    let updated = store
        .update_key(&KeyRecord {
            description: "changed".into(),
            ..key.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        store.key_version(&key.key_id).await.unwrap(),
        Some(updated.version)
    );
    assert_eq!(
        stored_key(store, &key.key_id).await.version,
        updated.version
    );
    let m = new_material(&key.key_id, T0);
    rotate_key(
        store,
        updated.version,
        &m,
        &rotation_of(&m, T0, RotationType::OnDemand),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        store.key_version(&key.key_id).await.unwrap(),
        Some(updated.version + 1),
        "a rotation bumps it"
    );
    store
        .delete_key(&key.key_id, updated.version + 1)
        .await
        .unwrap();
    assert_eq!(store.key_version(&key.key_id).await.unwrap(), None);
    assert_eq!(store.key_version(&unique()).await.unwrap(), None);
}

/// `key_census`: every key once, by state, spec and manager, whatever its account and
/// region; a deleted key no more. (Other cases may share the store: counted as changes.)
pub async fn key_census_counts_keys_by_state_spec_and_manager(store: Arc<dyn Store>) {
    use std::collections::BTreeMap;
    let store = store.as_ref();
    let census = || async {
        store
            .key_census()
            .await
            .unwrap()
            .into_iter()
            .map(|c| ((c.state, c.key_spec, c.key_manager), c.keys))
            .collect::<BTreeMap<_, _>>()
    };
    let changes = |before: &BTreeMap<(String, String, String), i64>,
                   after: &BTreeMap<(String, String, String), i64>| {
        let mut out = BTreeMap::new();
        for (k, n) in after {
            let d = n - before.get(k).copied().unwrap_or(0);
            if d != 0 {
                assert_eq!(k.2, "CUSTOMER", "{k:?}");
                out.insert((k.0.clone(), k.1.clone()), d);
            }
        }
        for (k, n) in before {
            if !after.contains_key(k) {
                out.insert((k.0.clone(), k.1.clone()), -n);
            }
        }
        out
    };
    let start = census().await;
    assert!(start.values().all(|n| *n > 0), "{start:?}");
    let (a, b) = (account(), account());
    let k1 = created_key(store, &a, REGION).await;
    created_key(store, &a, REGION).await;
    created_key(store, &b, "eu-west-1").await;
    let disabled = created_key(store, &b, REGION).await;
    store
        .update_key(&KeyRecord {
            state: trent_wire::KeyState::Disabled,
            ..disabled.clone()
        })
        .await
        .unwrap();
    let spec = k1.key_spec.as_str().to_owned();
    let after = census().await;
    assert_eq!(
        changes(&start, &after),
        BTreeMap::from([
            (("Disabled".to_owned(), spec.clone()), 1),
            (("Enabled".to_owned(), spec.clone()), 3),
        ])
    );
    store.delete_key(&k1.key_id, k1.version).await.unwrap();
    assert_eq!(
        changes(&start, &census().await),
        BTreeMap::from([
            (("Disabled".to_owned(), spec.clone()), 1),
            (("Enabled".to_owned(), spec), 2),
        ])
    );
}
