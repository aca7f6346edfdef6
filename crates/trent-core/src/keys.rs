//! Keys: resolution of a request's key reference, loading (cache, else store + unseal),
//! the key-state rules, `KeyMetadata`, and conflict-safe updates.

use std::sync::Arc;

use trent_policy::{Policy, PolicyKind};
use trent_store::KeyRecord;
use trent_wire::{
    CustomerMasterKeySpec, KeyMetadata, KeyState, MultiRegionConfiguration, MultiRegionKey,
    MultiRegionKeyType, Timestamp,
};

use crate::authz::Access;
use crate::backend::{Handle, KeyBackend, LocalBackend, StoredMaterial};
use crate::cache::Lookup;
use crate::error::internal;
use crate::ids::{alias_arn, key_arn, Forms, KeyRef, StorageKeyId};
use crate::key_state::KeyStateRules;
use crate::keyspec::{algorithm_lists, KeyKind};
use crate::optimistic::Invalidate;
use crate::{Caller, KeyService, KmsError};

/// A KMS key as the operations use it: its record, its key policy (parsed once, when the
/// key is loaded), and its [`Handle`], what its backend can do with its material. The
/// cache keeps these (`Arc<Key>`) with its own bookkeeping.
#[derive(Debug)]
pub(crate) struct Key {
    pub record: KeyRecord,
    /// The 16 bytes that stand for the key in ciphertext blobs ([`key_id_bytes`]).
    pub key_id_bytes: [u8; 16],
    pub handle: Handle,
    /// `record.policy`, parsed once when the key was loaded (never per request).
    pub policy: Arc<Policy>,
    /// The key's own condition keys (`kms:KeySpec`, `aws:ResourceTag/*`, ...), built on
    /// first use and shared by every request on the key (see [`Key::condition_keys`]).
    pub conditions: std::sync::OnceLock<Arc<trent_policy::ContextLayer>>,
}

impl Key {
    pub(crate) fn new(
        record: KeyRecord,
        key_id_bytes: [u8; 16],
        handle: Handle,
        policy: Arc<Policy>,
    ) -> Key {
        Key {
            record,
            key_id_bytes,
            handle,
            policy,
            conditions: std::sync::OnceLock::new(),
        }
    }

    /// The condition keys that follow from the key's record alone, built once per loaded
    /// key (a changed record is a new `Key`).
    pub(crate) fn condition_keys(&self) -> Arc<trent_policy::ContextLayer> {
        Arc::clone(self.conditions.get_or_init(|| {
            let record = &self.record;
            let mut layer = trent_policy::ContextLayer::new();
            layer.insert_static("kms:keyspec", record.key_spec.as_str());
            layer.insert_static("kms:customermasterkeyspec", record.key_spec.as_str());
            layer.insert_static("kms:keyusage", record.key_usage.as_str());
            layer.insert_static("kms:customermasterkeyusage", record.key_usage.as_str());
            layer.insert_static("kms:keyorigin", record.origin.as_str());
            layer.insert_static("kms:keymanager", record.key_manager.as_str());
            layer.insert_static("kms:multiregion", record.multi_region);
            for (k, v) in &record.tags {
                layer.insert(&format!("aws:ResourceTag/{k}"), v.as_str());
            }
            Arc::new(layer)
        }))
    }
}

/// A key found by [`KeyService::locate`], with the alias the request named it by.
pub(crate) struct Located {
    pub key: Arc<Key>,
    /// `kms:RequestAlias`: the alias name (`alias/...`) when the request used one.
    pub alias: Option<String>,
}

/// The key id of a key as every response and audit record shows it (the id in its ARN):
/// the shared `mrk-...` id of a region-key of a multi-Region key, else its storage id.
pub(crate) fn public_key_id(record: &KeyRecord) -> &str {
    record.mrk_id.as_deref().unwrap_or(&record.key_id)
}

/// The 16 bytes that stand for a key in ciphertext blobs and grant tokens: a UUID's
/// bytes, or the 32 hex digits of a multi-Region key id (see `trent_crypto::blob`).
pub(crate) fn key_id_bytes(public_id: &str) -> Option<[u8; 16]> {
    match public_id.strip_prefix("mrk-") {
        Some(hex) => hex_decode(hex)?.try_into().ok(),
        None => uuid_bytes(public_id),
    }
}

/// The current material id of a key that has none yet (see `unseal_key`).
pub(crate) const NO_MATERIAL: [u8; 32] = [0; 32];

pub(crate) fn uuid_bytes(key_id: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(key_id).ok().map(|u| *u.as_bytes())
}

pub(crate) fn material_bytes(material_id: &str) -> Option<[u8; 32]> {
    let v = hex_decode(material_id)?;
    v.try_into().ok()
}

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

impl KeyService {
    /// The key's record as the store holds it now (not the cache's).
    pub(crate) async fn stored_key(&self, key_id: &str) -> Result<Option<KeyRecord>, KmsError> {
        self.store
            .key(key_id)
            .await
            .map_err(internal("reading a key"))
    }

    /// Finds the key a request names, in the forms the operation admits, and authorizes
    /// the request on it (key policy, identity policies, grants) with the request's
    /// condition keys. A key that does not exist is `NotFoundException` before any
    /// authorization (AWS answers the same); another account's key is found only by ARN.
    pub(crate) async fn resolve<'r>(
        &self,
        caller: &Caller,
        input: &str,
        forms: Forms,
        access: impl Into<Access<'r>>,
    ) -> Result<Arc<Key>, KmsError> {
        let located = self.locate(caller, input, forms).await?;
        self.authorize(
            caller,
            &located.key,
            &access.into(),
            located.alias.as_deref(),
        )
        .await?;
        Ok(located.key)
    }

    /// Finds the key a request names, without authorizing anything (the caller must).
    pub(crate) async fn locate(
        &self,
        caller: &Caller,
        input: &str,
        forms: Forms,
    ) -> Result<Located, KmsError> {
        if caller.attributes.via.is_some() {
            self.ensure_key_of_calling_service(caller, input, forms)
                .await?;
        }
        let account = caller.account_id();
        let region = caller.region.as_str();
        let (key_id, key_account, alias) = match KeyRef::parse(input, forms)? {
            KeyRef::Id(id) => (id, account.to_string(), None),
            KeyRef::KeyArn {
                region: r,
                account: a,
                key_id,
            } => {
                if r != region {
                    return Err(KmsError::ArnInOtherRegion { region: r });
                }
                (key_id, a, None)
            }
            KeyRef::AliasName(name) => (
                self.alias_target(account, region, &name).await?,
                account.to_string(),
                Some(name),
            ),
            KeyRef::AliasArn {
                region: r,
                account: a,
                alias_name,
            } => {
                if r != region {
                    return Err(KmsError::ArnInOtherRegion { region: r });
                }
                let id = self.alias_target(&a, region, &alias_name).await?;
                (id, a, Some(alias_name))
            }
        };
        // Aliases hold storage ids; a key id or ARN names the key of the caller's region.
        let storage_id = if alias.is_some() {
            StorageKeyId::stored(key_id)
        } else {
            StorageKeyId::named(&key_id, region)
        };
        // The ARN in the error shows the public id.
        let not_found = || KmsError::KeyNotFound {
            arn: key_arn(region, &key_account, storage_id.public_id()),
        };
        let key = self
            .load(storage_id.as_str())
            .await?
            .ok_or_else(not_found)?;
        if key.record.region != region || key.record.account_id != key_account {
            return Err(not_found());
        }
        Ok(Located { key, alias })
    }

    pub(crate) async fn alias_target(
        &self,
        account: &str,
        region: &str,
        alias_name: &str,
    ) -> Result<String, KmsError> {
        if let Some(id) = self.cache.alias(account, region, alias_name) {
            return Ok(id);
        }
        let epoch = self.cache.epoch();
        let alias = self
            .store
            .alias(account, region, alias_name)
            .await
            .map_err(internal("reading an alias"))?
            .ok_or_else(|| KmsError::AliasNotFound {
                alias_arn: alias_arn(region, account, alias_name),
            })?;
        self.cache
            .put_alias(account, region, alias_name, &alias.target_key_id, epoch);
        Ok(alias.target_key_id)
    }

    /// The key a ciphertext blob or grant token names by its 16 key-id bytes, in `region`:
    /// the UUID key of those bytes if it is in that region, else the region-key of the
    /// multi-Region key `mrk-<hex of the bytes>` there. (Random UUIDs and random mrk ids
    /// never share bytes in practice; a UUID key of another region is no answer either.)
    pub(crate) async fn key_by_id_bytes(
        &self,
        bytes: &[u8; 16],
        region: &str,
    ) -> Result<Option<Arc<Key>>, KmsError> {
        let uuid = uuid::Uuid::from_bytes(*bytes).hyphenated().to_string();
        let in_region = |k: &Arc<Key>| k.record.region == region;
        // The hot path (Decrypt without KeyId) is served from the cache whichever it is.
        if let Some(k) = self.cache.key(&uuid).filter(in_region) {
            return Ok(Some(k));
        }
        let mrk =
            StorageKeyId::region_key(&format!("mrk-{}", hex_encode(bytes)), region).into_string();
        if let Some(k) = self.cache.key(&mrk) {
            return Ok(Some(k));
        }
        // Trent makes version-4 UUIDs: bytes that are not one are most likely an mrk id's,
        // so look that up first (an MRK's ciphertext then costs one store read, not two),
        // and the other form only if the first is not there.
        let v4 = bytes[6] >> 4 == 4 && bytes[8] & 0xc0 == 0x80;
        let order = if v4 { [&uuid, &mrk] } else { [&mrk, &uuid] };
        for id in order {
            if let Some(k) = self.load(id).await?.filter(in_region) {
                return Ok(Some(k));
            }
        }
        Ok(None)
    }

    /// Every region-key of the multi-Region key `mrk_id` of `account`, ordered by region.
    /// (Ids are random, 128 bits: the account filter only makes sure no write ever
    /// reaches another account's key, however unlikely a shared id.)
    pub(crate) async fn region_keys(
        &self,
        mrk_id: &str,
        account: &str,
    ) -> Result<Vec<KeyRecord>, KmsError> {
        let mut keys = self
            .store
            .multi_region_keys(mrk_id)
            .await
            .map_err(internal("reading a multi-Region key"))?;
        keys.retain(|k| k.account_id == account);
        Ok(keys)
    }

    /// `KeyMetadata` with, for a multi-Region key, its `MultiRegionConfiguration` (read
    /// from the store: the set of replicas is not cached).
    pub(crate) async fn full_key_metadata(
        &self,
        record: &KeyRecord,
    ) -> Result<KeyMetadata, KmsError> {
        let mut metadata = key_metadata(record);
        if let Some(id) = &record.custom_key_store_id {
            // A key of a custom key store that is not connected is Unavailable ("You can
            // view and manage unavailable KMS keys, but you cannot use them in
            // cryptographic operations").
            let key_store = self
                .store
                .custom_key_store(id)
                .await
                .map_err(internal("reading a custom key store"))?;
            let connected = key_store
                .as_ref()
                .is_some_and(|s| s.connection_state == trent_store::ConnectionStateType::Connected);
            metadata.cloud_hsm_cluster_id = key_store.and_then(|s| s.cloud_hsm_cluster_id);
            if !connected && matches!(record.state, KeyState::Enabled | KeyState::Disabled) {
                metadata.key_state = Some(KeyState::Unavailable);
                metadata.enabled = Some(false);
            }
        }
        if let Some(mrk_id) = &record.mrk_id {
            let keys = self.region_keys(mrk_id, &record.account_id).await?;
            metadata.multi_region_configuration = Some(multi_region_configuration(record, &keys));
        }
        if crate::import::is_external(record) {
            // "ExpirationModel: present only when Origin is EXTERNAL"; "ValidTo: the
            // earliest time at which any imported key material permanently associated with
            // this KMS key expires".
            let materials = self
                .store
                .imported_materials(&record.key_id)
                .await
                .map_err(internal("reading imported key material"))?;
            let current = record
                .current_material_id
                .as_deref()
                .and_then(|c| materials.iter().find(|m| m.material_id == c));
            metadata.expiration_model = current.and_then(crate::import::expiration_model_of);
            metadata.valid_to = materials
                .iter()
                .filter(|m| m.sealed.is_some())
                .filter_map(|m| m.valid_to)
                .min()
                .map(Timestamp::from_millis);
        }
        Ok(metadata)
    }

    /// A key with its unsealed material, from the cache or else from the store.
    pub(crate) async fn load(&self, key_id: &str) -> Result<Option<Arc<Key>>, KmsError> {
        let epoch = self.cache.epoch();
        match self.cache.lookup_key(key_id) {
            Lookup::Fresh(k) => {
                self.cache.lookups.hit.increment(1);
                return Ok(Some(k));
            }
            // Past its lifetime: if the store still has the version it was loaded at, it
            // is current (every change of a key's record or materials bumps its version),
            // and one small read spares reading, unsealing and parsing it again. Keys of
            // custom key stores are always read again (their handle depends on the store).
            Lookup::Stale(k) if k.record.custom_key_store_id.is_none() => {
                let version = self
                    .store
                    .key_version(key_id)
                    .await
                    .map_err(internal("reading a key's version"))?;
                if version == Some(k.record.version) {
                    self.cache.renew_key(&k, epoch);
                    self.cache.lookups.revalidated.increment(1);
                    return Ok(Some(k));
                }
            }
            Lookup::Stale(_) | Lookup::Missing => {}
        }
        self.cache.lookups.miss.increment(1);
        let Some(record) = self.stored_key(key_id).await? else {
            return Ok(None);
        };
        let loaded = Arc::new(self.unseal_key(record).await?);
        self.cache.put_key(loaded.clone(), epoch);
        Ok(Some(loaded))
    }

    async fn unseal_key(&self, record: KeyRecord) -> Result<Key, KmsError> {
        let key_id_bytes = key_id_bytes(public_key_id(&record)).ok_or_else(|| {
            tracing::error!(key_id = %record.key_id, "stored key id is not a UUID or mrk id");
            KmsError::Internal
        })?;
        // A key with imported key material may have no current material (never imported):
        // it is PendingImport then, and no cryptographic operation reaches its material.
        let current_material = match record.current_material_id.as_deref() {
            Some(id) => material_bytes(id).ok_or_else(|| {
                tracing::error!(key_id = %record.key_id, "stored current material id is malformed");
                KmsError::Internal
            })?,
            None if crate::import::is_external(&record) => NO_MATERIAL,
            None => {
                tracing::error!(key_id = %record.key_id, "a key without material");
                return Err(KmsError::Internal);
            }
        };
        let kind = KeyKind::of(record.key_spec);
        // Imported material: only what is imported now (deleted and expired material has no
        // bytes left).
        let stored: Vec<StoredMaterial> = if crate::import::is_external(&record) {
            self.store
                .imported_materials(&record.key_id)
                .await
                .map_err(internal("reading imported key material"))?
                .into_iter()
                .filter_map(|m| {
                    m.sealed.map(|stored| StoredMaterial {
                        material_id: m.material_id,
                        stored,
                    })
                })
                .collect()
        } else {
            self.store
                .materials(&record.key_id)
                .await
                .map_err(internal("reading key material"))?
                .into_iter()
                .map(|m| StoredMaterial {
                    material_id: m.material_id,
                    stored: m.sealed,
                })
                .collect()
        };
        let handle = match (
            record.custom_key_store_id.clone(),
            record.xks_key_id.clone(),
        ) {
            // A key of an AWS_CLOUDHSM store: its object in the store's token.
            (Some(store_id), None) => {
                self.token_handle(&record, &store_id, current_material, stored)
                    .await?
            }
            (store_id, xks_key_id) => {
                // Material sealed under the root key. An enabled or disabled key has all of
                // it; a PendingImport key (or one pending deletion after its material
                // expired) may lack some.
                let local = self.local_backend().load(
                    &record,
                    kind,
                    current_material,
                    record.state.has_all_material(),
                    stored,
                )?;
                match (store_id, xks_key_id, local) {
                    // A key of an external key store: that material, then its external key.
                    (Some(store_id), Some(xks_key_id), Handle::Local(local)) => {
                        Handle::External(crate::backend::external::ExternalKey {
                            local,
                            arn: record.arn.to_string(),
                            xks_key_id,
                            connection: self.external_connection(&store_id).await?,
                        })
                    }
                    (Some(_), Some(_), _) => return Err(KmsError::Internal),
                    (_, _, local) => local,
                }
            }
        };
        let policy = Policy::parse(&record.policy, PolicyKind::KeyPolicy).map_err(|e| {
            tracing::error!(key_id = %record.key_id, error = %e, "stored key policy does not parse");
            KmsError::Internal
        })?;
        Ok(Key::new(record, key_id_bytes, handle, Arc::new(policy)))
    }

    /// The handle of a key of a custom key store: its token object, with this node's
    /// connection to the store's token if the store is `CONNECTED` (opened now if this
    /// node has none yet), else none (the key is `Unavailable`). A store that is not
    /// connected closes this node's connection.
    async fn token_handle(
        &self,
        record: &KeyRecord,
        store_id: &str,
        current_material: [u8; 32],
        stored: Vec<StoredMaterial>,
    ) -> Result<Handle, KmsError> {
        let object_id = match stored.as_slice() {
            [m] if m.material_id == hex_encode(&current_material) => {
                crate::backend::token::object_id(&m.stored)
            }
            _ => None,
        }
        .ok_or_else(|| {
            tracing::error!(key_id = %record.key_id, "a custom key store key without its token object id");
            KmsError::Internal
        })?;
        let key_store = self
            .store
            .custom_key_store(store_id)
            .await
            .map_err(internal("reading a custom key store"))?;
        let connection = match key_store {
            Some(ks) if ks.connection_state == trent_store::ConnectionStateType::Connected => {
                match self.custom_key_stores.connect(&self.root, &ks).await {
                    Ok(c) => Some(c),
                    Err(code) => {
                        tracing::warn!(custom_key_store_id = %store_id, error_code = code.as_str(), "this node cannot connect to a connected custom key store: its keys are unavailable here");
                        None
                    }
                }
            }
            _ => {
                self.custom_key_stores.close(store_id);
                None
            }
        };
        Ok(Handle::Token(crate::backend::token::TokenKey {
            arn: record.arn.to_string(),
            object_id,
            material_id: current_material,
            connection,
        }))
    }

    /// The backend of keys whose material is sealed under the root key (every key but
    /// those of custom key stores).
    pub(crate) fn local_backend(&self) -> LocalBackend<'_> {
        LocalBackend::new(&*self.root)
    }

    /// Applies `change` to the freshest stored record and writes it, retrying on a
    /// concurrent update so that no writer's change is lost (see
    /// [`KeyService::optimistic`]); `change` re-checks the key state each time. Returns the
    /// stored record.
    pub(crate) async fn update_key<F>(&self, key_id: &str, change: F) -> Result<KeyRecord, KmsError>
    where
        F: Fn(&mut KeyRecord) -> Result<(), KmsError> + Sync,
    {
        self.update_key_reading(key_id, || async { Ok(()) }, |r, ()| change(r))
            .await
    }

    /// `update_key` for a change that depends on more than the key's record: `read` runs
    /// at each attempt after the record is read (e.g. the key's imported materials), and
    /// `change` decides by both. Every write of what `read` reads must bump the key's
    /// version (as the imported-material writes do), so that a change made in between
    /// fails this write and the decision is made again on fresh data.
    pub(crate) async fn update_key_reading<T, R, Fut, F>(
        &self,
        key_id: &str,
        mut read: R,
        change: F,
    ) -> Result<KeyRecord, KmsError>
    where
        R: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, KmsError>>,
        F: Fn(&mut KeyRecord, T) -> Result<(), KmsError> + Sync,
    {
        let change = &change;
        self.optimistic(key_id, "updating a key", |attempt| {
            let reading = read();
            async move {
                let Some(mut record) = self.stored_key(key_id).await? else {
                    return Err(KmsError::Internal.into());
                };
                change(&mut record, reading.await?)?;
                let written = self.store.update_key(&record).await;
                // The cached key keeps its material and takes the new record.
                attempt.committed(written, |stored| {
                    Invalidate::Record(Box::new(stored.clone()))
                })
            }
        })
        .await
    }
}

/// DescribeKey's `MultiRegionConfiguration` of a region-key, given every region-key of its
/// multi-Region key: the primary (by the shared primary region), and every other region-key
/// as a replica.
pub(crate) fn multi_region_configuration(
    record: &KeyRecord,
    keys: &[KeyRecord],
) -> MultiRegionConfiguration {
    let mrk_id = public_key_id(record);
    let primary_region = record.primary_region.as_deref().unwrap_or(&record.region);
    let entry = |region: &str| MultiRegionKey {
        arn: Some(key_arn(region, &record.account_id, mrk_id)),
        region: Some(region.to_owned()),
    };
    let mut replicas: Vec<MultiRegionKey> = keys
        .iter()
        .filter(|k| k.account_id == record.account_id && k.region != primary_region)
        .map(|k| entry(&k.region))
        .collect();
    if record.region != primary_region && !keys.iter().any(|k| k.region == record.region) {
        replicas.push(entry(&record.region));
    }
    MultiRegionConfiguration {
        multi_region_key_type: Some(if record.region == primary_region {
            MultiRegionKeyType::Primary
        } else {
            MultiRegionKeyType::Replica
        }),
        primary_key: Some(entry(primary_region)),
        replica_keys: Some(replicas),
    }
}

/// Whether a region-key is the primary key of its multi-Region key.
pub(crate) fn is_primary(record: &KeyRecord) -> bool {
    record.primary_region.as_deref() == Some(record.region.as_str())
}

/// Whether a region-key is a replica key of a multi-Region key.
pub(crate) fn is_replica(record: &KeyRecord) -> bool {
    record.mrk_id.is_some() && !is_primary(record)
}

/// Cryptographic operations need an enabled key
/// ([`KeyStateRules::for_cryptographic_operation`]).
pub(crate) fn require_enabled(record: &KeyRecord) -> Result<(), KmsError> {
    record.state.for_cryptographic_operation(&record.arn)
}

/// Management operations that AWS allows on enabled and disabled keys, and on keys pending
/// import ([`KeyStateRules::for_management`]).
pub(crate) fn require_manageable(record: &KeyRecord) -> Result<(), KmsError> {
    record.state.for_management(&record.arn)
}

/// Management operations that AWS allows on enabled and disabled keys only
/// ([`KeyStateRules::for_enabled_or_disabled`]).
pub(crate) fn require_not_pending_deletion(record: &KeyRecord) -> Result<(), KmsError> {
    record.state.for_enabled_or_disabled(&record.arn)
}

/// `KeyMetadata` as AWS returns it for a key.
pub(crate) fn key_metadata(record: &KeyRecord) -> KeyMetadata {
    let pending = record.state == KeyState::PendingDeletion;
    // "present only when the KeyState of the KMS key is PendingReplicaDeletion" (KeyMetadata
    // PendingDeletionWindowInDays); Trent shows it while PendingDeletion too, as before.
    let window_shown = record.state.is_pending_deletion();
    let kind = KeyKind::of(record.key_spec);
    let lists = algorithm_lists(kind, record.key_usage);
    KeyMetadata {
        aws_account_id: Some(record.account_id.to_string()),
        key_id: public_key_id(record).to_owned(),
        arn: Some(record.arn.to_string()),
        creation_date: Some(Timestamp::from_millis(record.created_at)),
        enabled: Some(record.state == KeyState::Enabled),
        description: Some(record.description.clone()),
        key_usage: Some(record.key_usage),
        key_state: Some(record.state),
        deletion_date: if pending {
            record.deletion_date.map(Timestamp::from_millis)
        } else {
            None
        },
        origin: Some(record.origin),
        key_manager: Some(record.key_manager),
        custom_key_store_id: record.custom_key_store_id.clone(),
        xks_key_configuration: record
            .xks_key_id
            .clone()
            .map(|id| trent_wire::XksKeyConfigurationType { id: Some(id) }),
        customer_master_key_spec: CustomerMasterKeySpec::parse(record.key_spec.as_str()),
        key_spec: Some(record.key_spec),
        encryption_algorithms: lists.encryption,
        signing_algorithms: lists.signing,
        mac_algorithms: lists.mac,
        key_agreement_algorithms: lists.key_agreement,
        multi_region: Some(record.multi_region),
        pending_deletion_window_in_days: if window_shown {
            record.pending_deletion_window_days
        } else {
            None
        },
        // "present for symmetric encryption keys" (KeyMetadata.CurrentKeyMaterialId).
        current_key_material_id: record
            .current_material_id
            .clone()
            .filter(|_| kind == KeyKind::Symmetric),
        ..KeyMetadata::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_region_ids_map_between_public_storage_and_blob_forms() {
        let mrk = "mrk-1234abcd12ab34cd56ef1234567890ab";
        let region_key = StorageKeyId::named(mrk, "eu-west-1");
        assert_eq!(region_key.as_str(), format!("{mrk}@eu-west-1"));
        assert_eq!(region_key, StorageKeyId::region_key(mrk, "eu-west-1"));
        assert_eq!(region_key.public_id(), mrk);
        assert_eq!(StorageKeyId::public_id_of(region_key.as_str()), mrk);
        let uuid = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(StorageKeyId::named(uuid, "eu-west-1").as_str(), uuid);
        assert_eq!(StorageKeyId::stored(uuid).public_id(), uuid);
        assert_eq!(StorageKeyId::public_id_of(uuid), uuid);
        // The same 16 bytes, spelled as an mrk id's hex or as a UUID.
        assert_eq!(key_id_bytes(mrk), key_id_bytes(uuid));
        assert_eq!(
            key_id_bytes(mrk).map(|b| hex_encode(&b)),
            Some(mrk[4..].to_owned())
        );
        assert_eq!(key_id_bytes("mrk-12"), None);
    }
}
