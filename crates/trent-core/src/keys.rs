//! Keys: resolution of a request's key reference, loading (cache, else store + unseal),
//! the key-state rules, `KeyMetadata`, and conflict-safe updates.

use std::collections::HashMap;
use std::sync::Arc;

use trent_crypto::{HmacKey, PrivateKey, SecretBytes, SymmetricKey};
use trent_policy::{Policy, PolicyKind};
use trent_store::{KeyRecord, StoreError};
use trent_wire::{
    CustomerMasterKeySpec, KeyManagerType, KeyMetadata, KeySpec, KeyState, KeyUsageType,
    OriginType, Timestamp,
};

use crate::authz::Access;
use crate::cache::{LoadedKey, Material};
use crate::error::internal;
use crate::ids::{alias_arn, key_arn, Forms, KeyRef};
use crate::keyspec::{algorithm_lists, KeyKind};
use crate::{Caller, KeyService, KmsError};

/// How many times an update is re-applied on a fresh read when another writer got there
/// first (optimistic concurrency).
const MAX_UPDATE_ATTEMPTS: usize = 16;

/// A key found by [`KeyService::locate`], with the alias the request named it by.
pub(crate) struct Located {
    pub key: Arc<LoadedKey>,
    /// `kms:RequestAlias`: the alias name (`alias/...`) when the request used one.
    pub alias: Option<String>,
}

pub(crate) const STATE_ENABLED: &str = "Enabled";
pub(crate) const STATE_DISABLED: &str = "Disabled";
pub(crate) const STATE_PENDING_DELETION: &str = "PendingDeletion";
pub(crate) const STATE_PENDING_IMPORT: &str = "PendingImport";

/// The authenticated data that binds sealed material to its key and version.
pub(crate) fn material_aad(key_arn: &str, material_id: &str) -> Vec<u8> {
    let mut aad = b"trent:material:v1:".to_vec();
    aad.extend_from_slice(&(key_arn.len() as u32).to_be_bytes());
    aad.extend_from_slice(key_arn.as_bytes());
    aad.extend_from_slice(material_id.as_bytes());
    aad
}

/// `LoadedKey::current_material` of a key that has none yet (see `unseal_key`).
pub(crate) const NO_MATERIAL: [u8; 32] = [0; 32];

pub(crate) fn uuid_bytes(key_id: &str) -> Option<[u8; 16]> {
    uuid::Uuid::parse_str(key_id).ok().map(|u| *u.as_bytes())
}

pub(crate) fn material_bytes(material_id: &str) -> Option<[u8; 32]> {
    let v = hex_decode(material_id)?;
    v.try_into().ok()
}

pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

impl KeyService {
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
    ) -> Result<Arc<LoadedKey>, KmsError> {
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
        let account = caller.account_id();
        let region = caller.region.as_str();
        let (key_id, key_account, alias) = match KeyRef::parse(input, forms)? {
            KeyRef::Id(id) => (id, account.to_owned(), None),
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
                account.to_owned(),
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
        let not_found = || KmsError::KeyNotFound {
            arn: key_arn(region, &key_account, &key_id),
        };
        let key = self.load(&key_id).await?.ok_or_else(not_found)?;
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

    /// A key with its unsealed material, from the cache or else from the store.
    pub(crate) async fn load(&self, key_id: &str) -> Result<Option<Arc<LoadedKey>>, KmsError> {
        if let Some(k) = self.cache.key(key_id) {
            return Ok(Some(k));
        }
        let epoch = self.cache.epoch();
        let Some(record) = self
            .store
            .key(key_id)
            .await
            .map_err(internal("reading a key"))?
        else {
            return Ok(None);
        };
        let loaded = Arc::new(self.unseal_key(record).await?);
        self.cache.put_key(loaded.clone(), epoch);
        Ok(Some(loaded))
    }

    async fn unseal_key(&self, record: KeyRecord) -> Result<LoadedKey, KmsError> {
        let key_id_bytes = uuid_bytes(&record.key_id).ok_or_else(|| {
            tracing::error!(key_id = %record.key_id, "stored key id is not a UUID");
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
        let kind = KeyKind::of(&record.key_spec).ok_or_else(|| {
            tracing::error!(key_id = %record.key_id, "stored key spec is unknown");
            KmsError::Internal
        })?;
        // Imported material: only what is imported now (deleted and expired material has no
        // bytes left).
        let sealed: Vec<(String, Vec<u8>)> = if crate::import::is_external(&record) {
            self.store
                .imported_materials(&record.key_id)
                .await
                .map_err(internal("reading imported key material"))?
                .into_iter()
                .filter_map(|m| m.sealed.map(|s| (m.material_id, s)))
                .collect()
        } else {
            self.store
                .materials(&record.key_id)
                .await
                .map_err(internal("reading key material"))?
                .into_iter()
                .map(|m| (m.material_id, m.sealed))
                .collect()
        };
        let mut materials = HashMap::new();
        for (material_id, sealed) in sealed {
            let Some(id) = material_bytes(&material_id) else {
                tracing::error!(key_id = %record.key_id, "stored material id is malformed");
                return Err(KmsError::Internal);
            };
            let plain = self
                .root
                .unseal(&material_aad(&record.arn, &material_id), &sealed)
                .map_err(internal("unsealing key material"))?;
            let key = unseal_material(kind, &plain).map_err(internal("loading key material"))?;
            materials.insert(id, Arc::new(key));
        }
        // An enabled or disabled key has all of its material; a PendingImport key (or one
        // pending deletion after its material expired) may lack some.
        let complete_state = record.state == STATE_ENABLED || record.state == STATE_DISABLED;
        if complete_state && !materials.contains_key(&current_material) {
            tracing::error!(key_id = %record.key_id, "current material of a key is missing");
            return Err(KmsError::Internal);
        }
        let policy = Policy::parse(&record.policy, PolicyKind::KeyPolicy).map_err(|e| {
            tracing::error!(key_id = %record.key_id, error = %e, "stored key policy does not parse");
            KmsError::Internal
        })?;
        Ok(LoadedKey {
            record,
            key_id_bytes,
            materials,
            current_material,
            policy: Arc::new(policy),
        })
    }

    /// Seals fresh material for a key.
    pub(crate) fn seal_material(
        &self,
        key_arn: &str,
        material_id: &str,
        material: &SecretBytes,
    ) -> Result<Vec<u8>, KmsError> {
        self.root
            .seal(&material_aad(key_arn, material_id), material.expose())
            .map_err(internal("sealing key material"))
    }

    /// Applies `change` to the freshest stored record and writes it, retrying on a
    /// concurrent update so that no writer's change is lost; `change` re-checks the key
    /// state each time. Returns the stored record.
    ///
    /// Correctness rests on the store's version check alone (other nodes write too); the
    /// striped local lock only keeps this node's writers to one key from colliding, so
    /// that conflicts, and their retries, come from other nodes only.
    pub(crate) async fn update_key<F>(
        &self,
        key_id: &str,
        mut change: F,
    ) -> Result<KeyRecord, KmsError>
    where
        F: FnMut(&mut KeyRecord) -> Result<(), KmsError>,
    {
        let _local = self.update_lock(key_id).lock().await;
        for attempt in 0..MAX_UPDATE_ATTEMPTS {
            let epoch = self.cache.epoch();
            let Some(mut record) = self
                .store
                .key(key_id)
                .await
                .map_err(internal("reading a key"))?
            else {
                return Err(KmsError::Internal);
            };
            change(&mut record)?;
            match self.store.update_key(&record).await {
                Ok(stored) => {
                    self.cache.update_record(stored.clone(), epoch);
                    return Ok(stored);
                }
                Err(StoreError::Conflict) => conflict_backoff(attempt).await,
                Err(e) => return Err(internal("updating a key")(e)),
            }
        }
        tracing::error!(
            key_id,
            "giving up an update after repeated concurrent modifications"
        );
        Err(KmsError::Internal)
    }
}

/// A short random pause before retrying a conflicting update, growing with the attempt,
/// so that writers on different nodes do not retry in lockstep.
pub(crate) async fn conflict_backoff(attempt: usize) {
    let cap_micros = 200u64.saturating_mul(1 << attempt.min(6));
    let jitter = trent_crypto::random_array::<8>()
        .map(u64::from_le_bytes)
        .unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_micros(jitter % cap_micros)).await;
}

/// Key material from its sealed form: symmetric and HMAC keys are their raw bytes, key
/// pairs their PKCS#8 DER private key.
pub(crate) fn unseal_material(
    kind: KeyKind,
    plain: &SecretBytes,
) -> Result<Material, trent_crypto::CryptoError> {
    Ok(match kind {
        KeyKind::Symmetric => Material::Symmetric(SymmetricKey::from_material(plain)?),
        KeyKind::Hmac(spec) => Material::Hmac(HmacKey::from_material(spec, plain.expose())?),
        KeyKind::Asymmetric(spec) => {
            Material::Asymmetric(PrivateKey::from_pkcs8(spec, plain.expose())?)
        }
    })
}

/// Cryptographic operations need an enabled key.
pub(crate) fn require_enabled(record: &KeyRecord) -> Result<(), KmsError> {
    match record.state.as_str() {
        STATE_ENABLED => Ok(()),
        STATE_DISABLED => Err(KmsError::Disabled {
            arn: record.arn.clone(),
        }),
        STATE_PENDING_DELETION => Err(KmsError::PendingDeletion {
            arn: record.arn.clone(),
        }),
        other => Err(KmsError::InvalidState {
            arn: record.arn.clone(),
            state: pretty_state(other),
        }),
    }
}

/// Management operations that AWS allows on enabled and disabled keys, and on keys pending
/// import (key state table: ScheduleKeyDeletion, UpdateKeyDescription, TagResource,
/// UntagResource, CreateAlias, ...).
pub(crate) fn require_manageable(record: &KeyRecord) -> Result<(), KmsError> {
    if record.state == STATE_PENDING_IMPORT {
        return Ok(());
    }
    require_not_pending_deletion(record)
}

/// Management operations that AWS allows on enabled and disabled keys only.
pub(crate) fn require_not_pending_deletion(record: &KeyRecord) -> Result<(), KmsError> {
    match record.state.as_str() {
        STATE_ENABLED | STATE_DISABLED => Ok(()),
        STATE_PENDING_DELETION => Err(KmsError::PendingDeletion {
            arn: record.arn.clone(),
        }),
        other => Err(KmsError::InvalidState {
            arn: record.arn.clone(),
            state: pretty_state(other),
        }),
    }
}

/// `PendingImport` → `pending import`, as AWS words states in messages.
fn pretty_state(state: &str) -> String {
    let mut out = String::new();
    for (i, c) in state.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

pub(crate) fn key_usage_of(record: &KeyRecord) -> KeyUsageType {
    KeyUsageType::parse(&record.key_usage).unwrap_or(KeyUsageType::EncryptDecrypt)
}

/// `KeyMetadata` as AWS returns it for a key.
pub(crate) fn key_metadata(record: &KeyRecord) -> KeyMetadata {
    let state = KeyState::parse(&record.state);
    let pending = record.state == STATE_PENDING_DELETION;
    let key_spec = KeySpec::parse(&record.key_spec);
    let kind = KeyKind::of(&record.key_spec);
    let lists = kind
        .map(|k| algorithm_lists(k, key_usage_of(record)))
        .unwrap_or_default();
    KeyMetadata {
        aws_account_id: Some(record.account_id.clone()),
        key_id: record.key_id.clone(),
        arn: Some(record.arn.clone()),
        creation_date: Some(Timestamp::from_millis(record.created_at)),
        enabled: Some(record.state == STATE_ENABLED),
        description: Some(record.description.clone()),
        key_usage: Some(key_usage_of(record)),
        key_state: state,
        deletion_date: if pending {
            record.deletion_date.map(Timestamp::from_millis)
        } else {
            None
        },
        origin: OriginType::parse(&record.origin),
        key_manager: Some(KeyManagerType::Customer),
        customer_master_key_spec: CustomerMasterKeySpec::parse(&record.key_spec),
        key_spec,
        encryption_algorithms: lists.encryption,
        signing_algorithms: lists.signing,
        mac_algorithms: lists.mac,
        key_agreement_algorithms: lists.key_agreement,
        multi_region: Some(record.multi_region),
        pending_deletion_window_in_days: if pending {
            record.pending_deletion_window_days
        } else {
            None
        },
        // "present for symmetric encryption keys" (KeyMetadata.CurrentKeyMaterialId).
        current_key_material_id: record
            .current_material_id
            .clone()
            .filter(|_| kind == Some(KeyKind::Symmetric)),
        ..KeyMetadata::default()
    }
}
