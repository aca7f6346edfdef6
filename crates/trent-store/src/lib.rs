//! Durable records for Trent: keys, their sealed material, aliases, access keys and
//! deployment metadata, behind one [`Store`] trait with an embedded SQLite backend and a
//! PostgreSQL one shared by several nodes.
//!
//! The store never sees plaintext key material or secrets: it stores bytes that the key
//! service has already sealed under the root key, and it never depends on `trent-crypto`.
//! It does not interpret KMS semantics either: key states, specs, usages and origins are
//! the KMS model's enumerations (`trent_wire`'s), stored as their wire names and parsed
//! once when a row is read (a name that is not one is [`StoreError::Corrupt`]); beyond
//! that the store only guarantees durability, uniqueness and optimistic concurrency:
//! a write that returns `Ok` is on disk, and an update made against a stale version is
//! refused with [`StoreError::Conflict`] instead of silently overwriting another writer.
//! A write of several records is a [`Transaction`] run by [`Store::transact`]: all of it
//! or nothing.
//! For several nodes on one database it also offers a change feed (so that every node can
//! drop what it cached about a record another node changed) and named leases (so that a
//! background job runs on one node at a time).

mod changes;
/// The store conformance suite: behind the `conformance` feature, which only tests enable.
#[cfg(feature = "conformance")]
#[doc(hidden)]
pub mod conformance;
mod copy;
mod grants;
mod migrations;
mod postgres;
mod sql;
mod sqlite;
mod store;
mod transaction;

use std::time::Duration;

use async_trait::async_trait;

pub use changes::{Change, ChangeStream};
pub use copy::{copy_sqlite_to_postgres, CopyError, CopyReport};
pub use grants::{CreateGrantOutcome, GrantLimits, GrantRecord};
pub use migrations::SchemaTooNew;
pub use postgres::{NodePresence, PostgresDb, PostgresStore};
pub use sqlite::{check_sqlite, snapshot_sqlite, SqliteDb, SqliteStore};
pub use store::SqlStore;
pub use transaction::{Committed, Transaction, Write};
/// The KMS model's enumerations that records hold.
pub use trent_wire::{
    AccountId, ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoreType,
    ExpirationModelType, KeyArn, KeyManagerType, KeySpec, KeyState, KeyUsageType, OriginType,
    Region, RotationType, XksProxyConnectivityType,
};

/// One line of [`Store::key_census`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyCensus {
    /// `Enabled`, `PendingDeletion`, ...
    pub state: String,
    /// `SYMMETRIC_DEFAULT`, `RSA_2048`, ...
    pub key_spec: String,
    /// `CUSTOMER` or `AWS`.
    pub key_manager: String,
    pub keys: i64,
}

/// A KMS key's metadata. Times are Unix milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key's storage id, unique across the whole store: the key id (a UUID, lowercase,
    /// hyphenated) of a single-Region key; for a region-key of a multi-Region key an id the
    /// key service derives from `mrk_id` and the region (the store does not interpret it).
    pub key_id: String,
    pub account_id: AccountId,
    pub region: Region,
    pub arn: KeyArn,
    /// Optimistic-concurrency version: 1 when created; the store bumps it on every update.
    pub version: i64,
    pub created_at: i64,
    pub description: String,
    /// Stored as wire names (`SYMMETRIC_DEFAULT`, `ENCRYPT_DECRYPT`, `AWS_KMS`, `Enabled`).
    pub key_spec: KeySpec,
    pub key_usage: KeyUsageType,
    pub origin: OriginType,
    pub state: KeyState,
    /// Who manages the key (migration 0008; `CUSTOMER` for every key created before).
    /// Never changes: `update_key` keeps the stored one.
    pub key_manager: KeyManagerType,
    /// The custom key store the key lives in (migration 0008); `None` for a key of the
    /// default key store. Never changes: `update_key` keeps the stored one.
    pub custom_key_store_id: Option<String>,
    /// The external key of a key in an external key store (migration 0010): its id behind
    /// the store's XKS proxy; `None` for every other key. Never changes: `update_key`
    /// keeps the stored one.
    pub xks_key_id: Option<String>,
    /// When a key pending deletion will be deleted.
    pub deletion_date: Option<i64>,
    pub pending_deletion_window_days: Option<i32>,
    /// The material that new ciphertexts use. `None` only for a key with imported key
    /// material (Origin EXTERNAL) before its first import (stored as '', see migration
    /// 0006).
    pub current_material_id: Option<String>,
    pub multi_region: bool,
    /// Multi-Region keys: the key id the primary and every replica share (`mrk-...`);
    /// `None` for a single-Region key. Never changes.
    pub mrk_id: Option<String>,
    /// Multi-Region keys: the region of the primary key, the same in every region-key of
    /// one multi-Region key; `None` for a single-Region key.
    pub primary_region: Option<Region>,
    /// Tags in the order they were first set; keys are unique.
    pub tags: Vec<(String, String)>,
    /// The key policy (the key's only policy, `default`): the JSON document exactly as it
    /// was given. Updated with the rest of the record, so a policy change reaches other
    /// nodes as a [`Change::Key`].
    pub policy: String,
}

/// One version of a key's material, sealed under the root key by the key service.
#[derive(Clone, PartialEq, Eq)]
pub struct MaterialRecord {
    pub key_id: String,
    /// Unique within the key (a UUID).
    pub material_id: String,
    pub created_at: i64,
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for MaterialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaterialRecord")
            .field("key_id", &self.key_id)
            .field("material_id", &self.material_id)
            .field("created_at", &self.created_at)
            .field(
                "sealed",
                &format_args!("[{} sealed bytes]", self.sealed.len()),
            )
            .finish()
    }
}

/// One material of a key with imported key material (Origin EXTERNAL): known from its
/// first import on, whether or not its bytes are currently imported.
#[derive(Clone, PartialEq, Eq)]
pub struct ImportedMaterialRecord {
    pub key_id: String,
    /// 64 hex digits, derived by the key service from the key id and the material.
    pub material_id: String,
    /// 1, 2, ... in the order of first import; assigned by the store (ignored on write).
    pub seq: i64,
    /// When it was first imported (kept on re-import).
    pub created_at: i64,
    /// KeyMaterialDescription of the last import that gave one.
    pub description: Option<String>,
    /// `None` while not imported.
    pub expiration_model: Option<ExpirationModelType>,
    /// When the imported material expires (Unix milliseconds).
    pub valid_to: Option<i64>,
    /// The material sealed under the root key; `None` while not imported (never stored,
    /// deleted or expired: the bytes are gone).
    pub sealed: Option<Vec<u8>>,
    /// The on-demand rotation that made this material current, if one did.
    pub rotated_at: Option<i64>,
    pub rotation_type: Option<RotationType>,
}

impl std::fmt::Debug for ImportedMaterialRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedMaterialRecord")
            .field("key_id", &self.key_id)
            .field("material_id", &self.material_id)
            .field("seq", &self.seq)
            .field("created_at", &self.created_at)
            .field("description", &self.description)
            .field("expiration_model", &self.expiration_model)
            .field("valid_to", &self.valid_to)
            .field(
                "sealed",
                &self
                    .sealed
                    .as_ref()
                    .map(|s| format!("[{} sealed bytes]", s.len())),
            )
            .field("rotated_at", &self.rotated_at)
            .field("rotation_type", &self.rotation_type)
            .finish()
    }
}

/// A custom key store (migration 0009): its configuration and its connection state, which
/// every node shares.
#[derive(Clone, PartialEq, Eq)]
pub struct CustomKeyStoreRecord {
    /// `cks-` and 17 lowercase hex digits, as AWS's ids.
    pub custom_key_store_id: String,
    pub account_id: AccountId,
    pub region: Region,
    /// Unique in its account and region.
    pub name: String,
    pub store_type: CustomKeyStoreType,
    /// AWS_CLOUDHSM: the cluster (a `[[pkcs11_clusters]]` entry) and its trust anchor
    /// certificate as given.
    pub cloud_hsm_cluster_id: Option<String>,
    pub trust_anchor_certificate: Option<String>,
    /// The store's secret sealed under the root key: an AWS_CLOUDHSM store's
    /// `KeyStorePassword`, an EXTERNAL_KEY_STORE store's XKS proxy secret access key.
    pub sealed_secret: Option<Vec<u8>>,
    /// EXTERNAL_KEY_STORE: the XKS proxy configuration.
    pub xks_proxy_uri_endpoint: Option<String>,
    pub xks_proxy_uri_path: Option<String>,
    pub xks_proxy_connectivity: Option<XksProxyConnectivityType>,
    pub xks_proxy_vpc_endpoint_service_name: Option<String>,
    pub xks_proxy_vpc_endpoint_service_owner: Option<String>,
    pub xks_proxy_access_key_id: Option<String>,
    pub connection_state: ConnectionStateType,
    /// Only while `FAILED`.
    pub connection_error_code: Option<ConnectionErrorCodeType>,
    pub created_at: i64,
    /// Optimistic-concurrency version: 1 when created, bumped by every update.
    pub version: i64,
}

impl std::fmt::Debug for CustomKeyStoreRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomKeyStoreRecord")
            .field("custom_key_store_id", &self.custom_key_store_id)
            .field("account_id", &self.account_id)
            .field("region", &self.region)
            .field("name", &self.name)
            .field("store_type", &self.store_type)
            .field("cloud_hsm_cluster_id", &self.cloud_hsm_cluster_id)
            .field("sealed_secret", &"[REDACTED]")
            .field("xks_proxy_uri_endpoint", &self.xks_proxy_uri_endpoint)
            .field("xks_proxy_uri_path", &self.xks_proxy_uri_path)
            .field("connection_state", &self.connection_state)
            .field("connection_error_code", &self.connection_error_code)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// An alias (`alias/...`), unique per account and region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasRecord {
    pub account_id: String,
    pub region: String,
    pub alias_name: String,
    pub target_key_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A key's automatic rotation schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationSchedule {
    pub key_id: String,
    pub enabled: bool,
    /// Days between automatic rotations (kept while disabled).
    pub period_days: i32,
    /// When the next automatic rotation is due (Unix milliseconds); `None` while disabled.
    pub next_rotation_at: Option<i64>,
}

/// A completed rotation: the material it made current.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationRecord {
    pub key_id: String,
    pub material_id: String,
    pub rotated_at: i64,
    pub rotation_type: RotationType,
}

/// One material version of a key with the rotation that made it current, if any (the
/// first material has none): what ListKeyRotations lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterialHistoryEntry {
    /// 1, 2, ... in the order the versions were added (the paging marker).
    pub seq: i64,
    pub material_id: String,
    pub created_at: i64,
    pub rotated_at: Option<i64>,
    pub rotation_type: Option<RotationType>,
}

/// The last successful cryptographic use of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUsageRecord {
    pub key_id: String,
    /// Wire name of the operation (`Encrypt`, `Decrypt`, ...).
    pub operation: String,
    pub used_at: i64,
    /// The audit event and the request of that use.
    pub event_id: Option<String>,
    pub request_id: Option<String>,
}

/// An access key of a principal; the secret is sealed under the root key.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub account_id: String,
    /// e.g. `arn:aws:iam::111122223333:user/admin`
    pub principal_arn: String,
    pub sealed_secret: Vec<u8>,
    pub created_at: i64,
    /// `Active` or `Inactive`.
    pub status: String,
}

impl std::fmt::Debug for AccessKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyRecord")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("principal_arn", &self.principal_arn)
            .field("sealed_secret", &"[REDACTED]")
            .field("created_at", &self.created_at)
            .field("status", &self.status)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("record not found")]
    NotFound,
    #[error("record already exists")]
    AlreadyExists,
    /// The record changed since it was read (optimistic concurrency).
    #[error("record was modified concurrently")]
    Conflict,
    #[error("store backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("store data is corrupt: {what}")]
    Corrupt { what: String },
    /// The database cannot be reached (connection refused or lost, server shutting down).
    /// The write, if any, may or may not have been applied; the caller may retry.
    #[error("store is unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// No database connection became available in time (every one busy, or the database
    /// slow to accept new ones).
    #[error("store timed out: {0}")]
    Timeout(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A record passed to the store breaks an invariant the store keeps (a tag key given twice,
/// a first material that belongs to another key): a bug in the caller, reported as
/// [`StoreError::Backend`] with this as its source, and nothing is written.
#[derive(Debug, thiserror::Error)]
#[error("invalid record: {what}")]
pub struct InvalidRecord {
    pub what: &'static str,
}

/// The durable store. Every method that returns `Ok` from a write has made the write
/// durable (fsync'd / committed) first. Implementations are shared by every request task,
/// and (for PostgreSQL) by several server processes: they must never rely on in-process
/// locks for correctness.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Deployment metadata (e.g. the root key's check value).
    async fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `name` to `value` unless it is already set; returns the value now stored
    /// (the existing one wins, so nodes racing at first start agree).
    async fn init_meta(&self, name: &str, value: &[u8]) -> Result<Vec<u8>, StoreError>;
    /// Sets `name` from `old` to `new` iff it is `old` now (`None`: absent; a `new` of
    /// `None` deletes it); `Conflict` otherwise, and nothing changes.
    async fn swap_meta(
        &self,
        name: &str,
        old: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<(), StoreError>;

    /// Creates a key with its first material, atomically. `AlreadyExists` if the key id
    /// is taken. The stored version is `key.version` (callers pass 1). A key with imported
    /// key material is created without one (`material` `None`; its current material, if
    /// any, is one of its imported materials: a copied deployment); a first material with
    /// no current material is an [`InvalidRecord`].
    async fn create_key(
        &self,
        key: &KeyRecord,
        material: Option<&MaterialRecord>,
    ) -> Result<(), StoreError>;
    async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// The key's current version (bumped by every change of its record, materials
    /// included), `None` if it does not exist: one small read, for a node to check that a
    /// key it loaded earlier is still current.
    async fn key_version(&self, key_id: &str) -> Result<Option<i64>, StoreError>;
    /// Replaces the key's fields and tags iff the stored version equals `key.version`;
    /// returns the record as stored, with its version incremented. `Conflict` on a
    /// version mismatch, `NotFound` if the key does not exist.
    async fn update_key(&self, key: &KeyRecord) -> Result<KeyRecord, StoreError>;
    /// Keys of one account and region ordered by key id, strictly after `after_key_id`.
    async fn list_keys(
        &self,
        account_id: &str,
        region: &str,
        after_key_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<KeyRecord>, StoreError>;
    /// Adds a material version to an existing key (`NotFound` if the key does not
    /// exist, `AlreadyExists` if the material id is taken).
    async fn add_material(&self, material: &MaterialRecord) -> Result<(), StoreError>;
    /// Every material version of a key, oldest first.
    async fn materials(&self, key_id: &str) -> Result<Vec<MaterialRecord>, StoreError>;

    /// `AlreadyExists` if the name is taken in that account and region.
    async fn create_alias(&self, alias: &AliasRecord) -> Result<(), StoreError>;
    async fn alias(
        &self,
        account_id: &str,
        region: &str,
        alias_name: &str,
    ) -> Result<Option<AliasRecord>, StoreError>;
    /// Points an existing alias at `alias.target_key_id` and sets `updated_at`;
    /// `NotFound` if it does not exist.
    async fn update_alias(&self, alias: &AliasRecord) -> Result<(), StoreError>;
    /// `NotFound` if it does not exist.
    async fn delete_alias(
        &self,
        account_id: &str,
        region: &str,
        alias_name: &str,
    ) -> Result<(), StoreError>;
    /// Aliases of one account and region ordered by name, strictly after
    /// `after_alias_name`, optionally only those pointing at `target_key_id`.
    async fn list_aliases(
        &self,
        account_id: &str,
        region: &str,
        target_key_id: Option<&str>,
        after_alias_name: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AliasRecord>, StoreError>;

    /// `AlreadyExists` if the access key id is taken.
    async fn put_access_key(&self, key: &AccessKeyRecord) -> Result<(), StoreError>;
    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeyRecord>, StoreError>;
    async fn access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError>;

    /// Adds a grant to an existing key (`NotFound` if the key does not exist), unless an
    /// earlier grant on the key has the same `Name` and parameters
    /// ([`GrantRecord::same_request`]): then nothing is written and that grant is returned.
    /// Checks `limits` in the same transaction, serialized with every other grant change
    /// of the key (on any node), so concurrent requests can neither exceed a quota nor
    /// both create a named grant. `AlreadyExists` if the grant id is taken.
    async fn create_grant(
        &self,
        grant: &GrantRecord,
        limits: GrantLimits,
    ) -> Result<CreateGrantOutcome, StoreError>;
    async fn grant(&self, key_id: &str, grant_id: &str) -> Result<Option<GrantRecord>, StoreError>;
    /// Grants of one key ordered by grant id, strictly after `after_grant_id`, optionally
    /// only those of one grantee principal.
    async fn list_grants(
        &self,
        key_id: &str,
        grantee_principal: Option<&str>,
        after_grant_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError>;
    /// Grants with this retiring principal on keys of `region` (any account), ordered by
    /// grant id, strictly after `after_grant_id`.
    async fn list_retirable_grants(
        &self,
        retiring_principal: &str,
        region: &str,
        after_grant_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GrantRecord>, StoreError>;
    /// Deletes a grant of a key (RetireGrant, RevokeGrant); `NotFound` if the key has no
    /// such grant.
    async fn delete_grant(&self, key_id: &str, grant_id: &str) -> Result<(), StoreError>;

    /// A feed of the changes every writer (this process or another node) commits from now
    /// on, for cache invalidation. A change is announced only if its write committed; a
    /// backend that may have missed some (lost connection, slow consumer) yields
    /// [`Change::All`]. A single-process backend returns a stream that ends at once.
    async fn subscribe(&self) -> Result<ChangeStream, StoreError>;

    /// Takes the lease `name` for `holder` for `ttl` if it is free, expired, or already
    /// `holder`'s (then extended). `true` iff `holder` now holds it. Among concurrent
    /// acquirers (on any node) at most one succeeds. Expiry is measured by the store's
    /// clock (the database server's for PostgreSQL), so nodes' clocks need not agree.
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Extends the lease iff `holder` still holds it and it has not expired; `false` means
    /// the holder lost it (and must stop the work it guards).
    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Gives the lease up if `holder` holds it; a no-op otherwise.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// The key's rotation schedule, if rotation was ever enabled.
    async fn rotation_schedule(&self, key_id: &str)
        -> Result<Option<RotationSchedule>, StoreError>;
    /// Sets the key's rotation schedule iff the key's stored version equals
    /// `key_version`, and bumps that version (a change to the key, which every node's
    /// cache hears of); returns the new version. `Conflict` / `NotFound` as `update_key`.
    async fn set_rotation_schedule(
        &self,
        key_version: i64,
        schedule: &RotationSchedule,
    ) -> Result<i64, StoreError>;
    /// The key's material versions with their rotations, in order, strictly after
    /// `after_seq`; only those made by a rotation if `rotations_only`.
    async fn material_history(
        &self,
        key_id: &str,
        rotations_only: bool,
        after_seq: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MaterialHistoryEntry>, StoreError>;
    /// How many rotations of the key are of `rotation_type`.
    async fn count_rotations(
        &self,
        key_id: &str,
        rotation_type: RotationType,
    ) -> Result<i64, StoreError>;
    /// Enabled schedules whose next rotation is at or before `now`, soonest first.
    async fn rotations_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<RotationSchedule>, StoreError>;
    /// Ids of keys whose deletion date is at or before `now`, soonest first.
    async fn deletions_due(&self, now: i64, limit: u32) -> Result<Vec<String>, StoreError>;
    /// Deletes a key irrecoverably, in one transaction, iff its stored version equals
    /// `key_version`: the key, its tags, every material version (imported ones too), its
    /// rotation schedule and history, its last usage, and every alias pointing at it. `Conflict` / `NotFound`
    /// as `update_key`; nothing is deleted then.
    async fn delete_key(&self, key_id: &str, key_version: i64) -> Result<(), StoreError>;
    /// Records uses of keys: each replaces the stored one of its key unless that one is
    /// later; uses of keys that no longer exist are skipped.
    async fn record_key_usage(&self, usage: &[KeyUsageRecord]) -> Result<(), StoreError>;
    async fn key_last_usage(&self, key_id: &str) -> Result<Option<KeyUsageRecord>, StoreError>;

    /// Every imported material of a key, in order of first import (migration 0006).
    async fn imported_materials(
        &self,
        key_id: &str,
    ) -> Result<Vec<ImportedMaterialRecord>, StoreError>;
    /// Imported materials still imported whose `valid_to` is at or before `now`, soonest
    /// first.
    async fn import_expirations_due(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ImportedMaterialRecord>, StoreError>;
    // Multi-Region keys (migration 0007). Every region-key is a key of its own (its own
    // row, tags, policy, grants, aliases, state); the writes that change several of them
    // are one `transact` each, version-checked each, so that what they share (material,
    // rotations, the primary region) never differs between them, on any node.

    /// Every region-key of the multi-Region key `mrk_id`, ordered by region.
    async fn multi_region_keys(&self, mrk_id: &str) -> Result<Vec<KeyRecord>, StoreError>;

    /// Runs the writes of `transaction` in one database transaction, in order, with every
    /// version check in it: a rotation, a replica with everything it copies, several
    /// region-keys at once (see [`Transaction`]). All or nothing: on `Conflict` (a stale
    /// version), `NotFound` (a key that is gone), `AlreadyExists` (a new key's id, or a
    /// material id of the key, is taken) or an [`InvalidRecord`] anywhere, nothing is
    /// written. The changed records are announced on the change feed iff it commits.
    /// Returns the updated keys as stored and every new version.
    async fn transact(&self, transaction: &Transaction) -> Result<Committed, StoreError>;

    /// A page of the secrets of `kind` sealed under the root key, in the order of their
    /// ([`SealedSecret::owner`], [`SealedSecret::item`]), after `after` (that pair), at
    /// most `limit`; destroyed imported materials (no bytes) are not listed. For changing
    /// the root key (`trent root-key migrate`); [`SealedKind::Meta`] lists nothing (the
    /// caller knows which metadata entries are sealed and reads them with [`Store::meta`]).
    async fn sealed_secrets(
        &self,
        kind: SealedKind,
        after: Option<(&str, &str)>,
        limit: u32,
    ) -> Result<Vec<SealedSecret>, StoreError>;

    // Custom key stores (migration 0009). Every write announces [`Change::All`]: a store's
    // state decides whether its keys are usable, and such writes are rare.

    /// `AlreadyExists` if the id, or the name in that account and region, is taken. The
    /// stored version is `store.version` (callers pass 1).
    async fn create_custom_key_store(&self, store: &CustomKeyStoreRecord)
        -> Result<(), StoreError>;
    async fn custom_key_store(&self, id: &str) -> Result<Option<CustomKeyStoreRecord>, StoreError>;
    /// The custom key stores of one account and region, oldest first.
    async fn custom_key_stores(
        &self,
        account_id: &str,
        region: &str,
    ) -> Result<Vec<CustomKeyStoreRecord>, StoreError>;
    /// Replaces the store's fields iff its stored version is `store.version`; returns it
    /// as stored, version incremented. `Conflict` on a version mismatch, `NotFound` if it
    /// does not exist, `AlreadyExists` if the new name is taken. Its id, account, region,
    /// type and creation date never change.
    async fn update_custom_key_store(
        &self,
        store: &CustomKeyStoreRecord,
    ) -> Result<CustomKeyStoreRecord, StoreError>;
    /// Deletes the store iff its stored version is `version` and no key lives in it;
    /// `Conflict` otherwise (changed since, or a key in it), `NotFound` if it is gone.
    async fn delete_custom_key_store(&self, id: &str, version: i64) -> Result<(), StoreError>;
    /// TESTING ONLY (`--dev-reset`): deletes every key of the account (`None`: of every
    /// account) in every region with everything of them (materials, grants, aliases,
    /// rotations, last usage), and its custom key stores, in one transaction; access keys
    /// and metadata stay. Announces [`Change::All`]. Returns how many keys it deleted.
    async fn reset_account(&self, account_id: Option<&str>) -> Result<u64, StoreError>;
    /// How many customer managed keys (`KeyManager` `CUSTOMER`, any state) the account
    /// has in the region: what the key quota counts.
    async fn customer_key_count(&self, account_id: &str, region: &str) -> Result<i64, StoreError>;
    /// How many keys there are of each state, key spec and key manager, across every
    /// account and region (what the metrics report; it reads every key).
    async fn key_census(&self) -> Result<Vec<KeyCensus>, StoreError>;
    /// How many keys live in the custom key store (any state).
    async fn custom_key_store_key_count(&self, id: &str) -> Result<i64, StoreError>;

    /// Replaces sealed secrets in one database transaction, each iff its stored bytes are
    /// still [`Resealed::old`]'s (else `Conflict`: changed since, or gone), all or
    /// nothing. The record's other fields, and the keys' versions, do not change: the
    /// secret is the same, only the root key sealing it changed. Announces the keys whose
    /// materials changed on the change feed.
    async fn reseal(&self, batch: &[Resealed]) -> Result<(), StoreError>;
}

/// What kind of record a [`SealedSecret`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SealedKind {
    /// A version of a KMS-made key's material (`key_materials`): owner = key id, item =
    /// material id.
    KeyMaterial,
    /// Imported key material (`imported_materials`): owner = key id, item = material id.
    ImportedMaterial,
    /// An access key's secret: owner = access key id, item empty.
    AccessKey,
    /// A metadata entry: owner = its name, item empty.
    Meta,
    /// A custom key store's secret: owner = its id, item empty.
    CustomKeyStoreSecret,
}

/// A secret sealed under the root key, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub kind: SealedKind,
    pub owner: String,
    pub item: String,
    /// The key's ARN for key materials (their AAD names it), else empty.
    pub key_arn: String,
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("kind", &self.kind)
            .field("owner", &self.owner)
            .field("item", &self.item)
            .field("sealed_len", &self.sealed.len())
            .finish_non_exhaustive()
    }
}

/// A sealed secret and its new sealed bytes, for [`Store::reseal`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resealed {
    /// The record as read (its kind, identity and the bytes expected to be stored).
    pub old: SealedSecret,
    pub sealed: Vec<u8>,
}

/// A lease's length in milliseconds, saturated.
pub(crate) fn ttl_millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2)
}
