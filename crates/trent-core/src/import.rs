//! Imported key material (BYOK), shared by GetParametersForImport, ImportKeyMaterial,
//! DeleteImportedKeyMaterial, RotateKeyOnDemand and the expiry job
//! (<https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html>).
//!
//! - The **import token** is stateless: the wrapping private key, the key ARN, the wrapping
//!   algorithm and key spec and the expiry, sealed under the root key. Any node of a
//!   cluster, and a restarted server, accepts it; nobody can forge or alter one, and a
//!   token of another key is refused by its ARN.
//! - The **key material id** is HMAC-SHA256, under a secret sealed under the root key (a
//!   meta entry, so every node and every restart agree), over the key's *public* key id and
//!   the material: "KMS assigns a unique identifier to the key material based on the KMS
//!   key ID and the imported key material" (ImportKeyMaterial's KeyMaterialId). It does not
//!   depend on the ARN or the Region, so replicas of a multi-Region key, which share the key
//!   id, get the same id for the same material; and it reveals nothing of the material. An
//!   asymmetric key's material is identified by its public key, so that two encodings of
//!   one private key are the same material.
//! - **Expiry**: a background job deletes imported material at its ValidTo (never a
//!   millisecond before, by the service's clock) and records `DeleteExpiredKeyMaterial`.

use trent_crypto::{
    HmacKey, HmacKeySpec, MacAlgorithm, SecretBytes, WrappingAlgorithm, WrappingKey,
    WrappingKeySpec,
};
use trent_store::{ImportedMaterialRecord, KeyRecord, StoreError, Transaction};
use trent_wire::{ExpirationModelType, ImportState, KeyMaterialState, KeyState, OriginType};

use crate::backend::local::Material;
use crate::error::internal;
use crate::jobs::{drain_due, ServiceEvent, DUE_BATCH};
use crate::key_state::KeyStateRules;
use crate::keys::hex_encode;
use crate::keyspec::KeyKind;
use crate::optimistic::Invalidate;
use crate::{KeyService, KmsError};

/// "Each public key and import token set is valid for 24 hours" (GetParametersForImport).
pub(crate) const TOKEN_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;
/// ValidTo: "The maximum value is 365 days from the request date."
pub(crate) const MAX_VALID_TO_MS: i64 = 365 * 24 * 60 * 60 * 1000;

pub(crate) const META_MATERIAL_ID_KEY: &str = "import_material_id_key";
pub(crate) const MATERIAL_ID_KEY_AAD: &[u8] = b"trent:meta:import_material_id_key:v1";
const MATERIAL_ID_DOMAIN: &[u8] = b"trent:key-material-id:v1";
const TOKEN_AAD: &[u8] = b"trent:import-token:v1";
const TOKEN_MAGIC: &[u8] = b"TRIT";
const TOKEN_VERSION: u8 = 1;

/// What an import token binds, once unsealed and checked.
pub(crate) struct ImportParameters {
    pub algorithm: WrappingAlgorithm,
    pub wrapping_key: WrappingKey,
}

/// Whether a key holds imported key material.
pub(crate) fn is_external(record: &KeyRecord) -> bool {
    record.origin == OriginType::External
}

/// AWS's refusal of an import operation on a key whose material KMS made (the wording AWS
/// uses for a key property that does not fit the operation).
pub(crate) fn not_external(record: &KeyRecord) -> KmsError {
    KmsError::UnsupportedOrigin {
        arn: record.arn.to_string(),
        origin: record.origin.as_str().to_owned(),
    }
}

/// The state of a material within its key, as ListKeyRotations reports it: the current
/// one, one imported after it and not yet rotated to, or an earlier one.
pub(crate) fn material_state(
    m: &ImportedMaterialRecord,
    current: Option<&ImportedMaterialRecord>,
) -> KeyMaterialState {
    match current {
        Some(c) if c.material_id == m.material_id => KeyMaterialState::Current,
        Some(c) if m.seq > c.seq => KeyMaterialState::PendingRotation,
        Some(_) => KeyMaterialState::NonCurrent,
        None => KeyMaterialState::PendingRotation,
    }
}

pub(crate) fn import_state(m: &ImportedMaterialRecord) -> ImportState {
    if m.sealed.is_some() {
        ImportState::Imported
    } else {
        ImportState::PendingImport
    }
}

/// The state a key with imported material is in once its materials are `materials`: a key
/// whose material is missing (never imported, deleted, expired) is `PendingImport`, unless
/// it is pending deletion (which it stays); a `PendingImport` key whose every material is
/// back is `Enabled` ("For symmetric encryption keys, you will need to import all of the
/// key materials associated with the KMS key to change its state to Enabled"); a disabled
/// or enabled key with every material stays as it is.
pub(crate) fn state_after(record: &KeyRecord, materials: &[ImportedMaterialRecord]) -> KeyState {
    // A key scheduled for deletion keeps its schedule whatever happens to its material
    // (DeleteImportedKeyMaterial: "When the specified KMS key is in the PendingDeletion
    // state, this operation does not change the KMS key's state"); so does a primary
    // waiting for its replicas' deletion.
    if record.state.is_pending_deletion() {
        return record.state;
    }
    // The current material must be among them: a replica of a multi-Region key may take a
    // newer material of its primary before the current one.
    let has_current = record
        .current_material_id
        .as_deref()
        .is_none_or(|c| materials.iter().any(|m| m.material_id == c));
    let complete =
        has_current && !materials.is_empty() && materials.iter().all(|m| m.sealed.is_some());
    if !complete {
        KeyState::PendingImport
    } else if record.state == KeyState::PendingImport {
        KeyState::Enabled
    } else {
        record.state
    }
}

/// Unix milliseconds → the wire's ExpirationModel.
pub(crate) fn expiration_model_of(m: &ImportedMaterialRecord) -> Option<ExpirationModelType> {
    m.expiration_model
}

/// Every region-key of a multi-Region key with its imported materials, the primary first.
pub(crate) type RegionMaterials = Vec<(KeyRecord, Vec<ImportedMaterialRecord>)>;

/// The materials of a multi-Region key's primary that wait for rotation and that some
/// replica has not imported yet: PENDING_MULTI_REGION_IMPORT_AND_ROTATION ("You must do this
/// for every replica Region key before you can perform the RotateKeyOnDemand operation on
/// the primary Region key", ImportKeyMaterial).
pub(crate) fn awaiting_replicas(region_keys: &RegionMaterials) -> Vec<String> {
    let Some((primary, materials)) = region_keys.first() else {
        return Vec::new();
    };
    let current = primary
        .current_material_id
        .as_deref()
        .and_then(|c| materials.iter().find(|m| m.material_id == c));
    materials
        .iter()
        .filter(|m| material_state(m, current) == KeyMaterialState::PendingRotation)
        .filter(|m| {
            region_keys[1..].iter().any(|(_, theirs)| {
                !theirs
                    .iter()
                    .any(|t| t.material_id == m.material_id && t.sealed.is_some())
            })
        })
        .map(|m| m.material_id.clone())
        .collect()
}

/// [`material_state`], with PENDING_MULTI_REGION_IMPORT_AND_ROTATION for a material of a
/// multi-Region key that waits for rotation and for a replica's import (`awaiting`).
pub(crate) fn shared_material_state(
    m: &ImportedMaterialRecord,
    current: Option<&ImportedMaterialRecord>,
    awaiting: &[String],
) -> KeyMaterialState {
    match material_state(m, current) {
        KeyMaterialState::PendingRotation if awaiting.contains(&m.material_id) => {
            KeyMaterialState::PendingMultiRegionImportAndRotation
        }
        state => state,
    }
}

impl KeyService {
    /// Every region-key of the multi-Region key of `record` with its imported materials,
    /// the primary first (read from the store).
    pub(crate) async fn region_materials(
        &self,
        record: &KeyRecord,
    ) -> Result<RegionMaterials, KmsError> {
        let Some(mrk_id) = record.mrk_id.as_deref() else {
            return Ok(Vec::new());
        };
        let mut keys = self.region_keys(mrk_id, &record.account_id).await?;
        keys.sort_by_key(|k| !crate::keys::is_primary(k));
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let materials = self
                .store
                .imported_materials(&k.key_id)
                .await
                .map_err(internal("reading imported key material"))?;
            out.push((k, materials));
        }
        Ok(out)
    }

    /// The secret key material ids are MACed with, made by the first node that needs it.
    async fn material_id_key(&self) -> Result<&HmacKey, KmsError> {
        self.material_id_key
            .get_or_try_init(|| async {
                let fresh =
                    trent_crypto::random_bytes(32).map_err(internal("generating a secret"))?;
                let sealed = self
                    .root
                    .seal(MATERIAL_ID_KEY_AAD, fresh.expose())
                    .map_err(internal("sealing the material id key"))?;
                // The first node's key wins; every node then uses the stored one.
                let stored = self
                    .store
                    .init_meta(META_MATERIAL_ID_KEY, &sealed)
                    .await
                    .map_err(internal("storing the material id key"))?;
                let plain = self
                    .root
                    .unseal(MATERIAL_ID_KEY_AAD, &stored)
                    .map_err(internal("unsealing the material id key"))?;
                HmacKey::from_material(HmacKeySpec::Hmac256, plain.expose())
                    .map_err(internal("loading the material id key"))
            })
            .await
    }

    /// The id of `material` (its canonical bytes, see the module documentation) on the key
    /// `key_id`: 64 lowercase hex digits (`BackingKeyIdType`).
    pub(crate) async fn material_id(
        &self,
        key_id: &str,
        canonical: &[u8],
    ) -> Result<String, KmsError> {
        let mut input = MATERIAL_ID_DOMAIN.to_vec();
        input.extend_from_slice(&(key_id.len() as u32).to_be_bytes());
        input.extend_from_slice(key_id.as_bytes());
        input.extend_from_slice(canonical);
        let mac = self
            .material_id_key()
            .await?
            .mac(MacAlgorithm::HmacSha256, &input)
            .map_err(internal("computing a key material id"))?;
        Ok(hex_encode(&mac))
    }

    /// A new import token for `key_arn`.
    pub(crate) fn seal_import_token(
        &self,
        key_arn: &str,
        algorithm: WrappingAlgorithm,
        wrapping_key: &WrappingKey,
        valid_to: i64,
    ) -> Result<Vec<u8>, KmsError> {
        let mut payload = Vec::with_capacity(64 + key_arn.len() + wrapping_key.pkcs8().len());
        payload.extend_from_slice(&valid_to.to_be_bytes());
        let alg = algorithm.wire_name().as_bytes();
        let spec = wrapping_key.spec().wire_name().as_bytes();
        payload.push(alg.len() as u8);
        payload.extend_from_slice(alg);
        payload.push(spec.len() as u8);
        payload.extend_from_slice(spec);
        payload.extend_from_slice(&(key_arn.len() as u16).to_be_bytes());
        payload.extend_from_slice(key_arn.as_bytes());
        payload.extend_from_slice(wrapping_key.pkcs8().expose());
        let payload = SecretBytes::new(payload);
        let sealed = self
            .root
            .seal(TOKEN_AAD, payload.expose())
            .map_err(internal("sealing an import token"))?;
        let mut token = TOKEN_MAGIC.to_vec();
        token.push(TOKEN_VERSION);
        token.extend_from_slice(&sealed);
        Ok(token)
    }

    /// Checks an import token against the key it is presented for and the time: one
    /// Trent did not issue, altered, or issued for another key is
    /// `InvalidImportTokenException`; one past its 24 hours `ExpiredImportTokenException`.
    pub(crate) fn open_import_token(
        &self,
        key_arn: &str,
        token: &[u8],
    ) -> Result<ImportParameters, KmsError> {
        let body = token
            .strip_prefix(TOKEN_MAGIC)
            .and_then(|t| t.split_first())
            .filter(|(v, _)| **v == TOKEN_VERSION)
            .map(|(_, rest)| rest)
            .ok_or(KmsError::InvalidImportToken)?;
        let payload = self
            .root
            .unseal(TOKEN_AAD, body)
            .map_err(|_| KmsError::InvalidImportToken)?;
        let p = payload.expose();
        let mut r = Reader(p);
        let valid_to = i64::from_be_bytes(
            r.take(8)?
                .try_into()
                .map_err(|_| KmsError::InvalidImportToken)?,
        );
        let alg_len = usize::from(r.take(1)?[0]);
        let alg =
            std::str::from_utf8(r.take(alg_len)?).map_err(|_| KmsError::InvalidImportToken)?;
        let spec_len = usize::from(r.take(1)?[0]);
        let spec =
            std::str::from_utf8(r.take(spec_len)?).map_err(|_| KmsError::InvalidImportToken)?;
        let arn_len = usize::from(u16::from_be_bytes(
            r.take(2)?
                .try_into()
                .map_err(|_| KmsError::InvalidImportToken)?,
        ));
        let arn = r.take(arn_len)?;
        if arn != key_arn.as_bytes() {
            return Err(KmsError::InvalidImportToken);
        }
        if self.clock.now_millis() >= valid_to {
            return Err(KmsError::ExpiredImportToken);
        }
        let algorithm = WrappingAlgorithm::from_wire(alg).ok_or(KmsError::InvalidImportToken)?;
        let spec = WrappingKeySpec::from_wire(spec).ok_or(KmsError::InvalidImportToken)?;
        let wrapping_key = WrappingKey::from_pkcs8(spec, r.0)
            .map_err(internal("loading the wrapping key of an import token"))?;
        Ok(ImportParameters {
            algorithm,
            wrapping_key,
        })
    }

    /// Writes one imported material of a key with the key's new state, version-checked and
    /// retried on a concurrent change: `change` sees the fresh key and its materials and
    /// returns the material to write and the key's new current material (`Ok(None)`: nothing
    /// to do). The key's state follows [`state_after`]. Returns the key as stored.
    pub(crate) async fn write_imported<F>(
        &self,
        key_id: &str,
        change: F,
    ) -> Result<Option<KeyRecord>, KmsError>
    where
        F: FnMut(
            &KeyRecord,
            &[ImportedMaterialRecord],
            i64,
        )
            -> Result<Option<(Vec<ImportedMaterialRecord>, Option<String>)>, KmsError>,
    {
        // Each attempt's future calls `change`; the lock lends it to one at a time (it is
        // never held across an await).
        let change = &parking_lot::Mutex::new(change);
        self.optimistic(
            key_id,
            "writing imported key material",
            |attempt| async move {
                let Some(record) = self.stored_key(key_id).await? else {
                    return Ok(None);
                };
                let materials = self
                    .store
                    .imported_materials(key_id)
                    .await
                    .map_err(internal("reading imported key material"))?;
                let now = self.clock.now_millis();
                let Some((written, current)) = (change.lock())(&record, &materials, now)? else {
                    return Ok(None);
                };
                let mut key = record.clone();
                key.current_material_id = current;
                key.state = state_after(&key, &merged(&materials, &written));
                let stored = self
                    .store
                    .transact(&put_imported_materials(vec![(key, written)]))
                    .await
                    .map(|committed| committed.into_keys().remove(0));
                if let Err(StoreError::NotFound) = stored {
                    return Ok(None);
                }
                // The cached key's materials changed: reload it on next use.
                let stored =
                    attempt.committed(stored, |_| Invalidate::Keys(vec![key_id.to_owned()]))?;
                Ok(Some(stored))
            },
        )
        .await
    }

    /// One pass of the expiry job: deletes every imported material whose ValidTo has come.
    /// Returns how many it deleted.
    pub(crate) async fn expire_imported_material(&self) -> Result<usize, KmsError> {
        drain_due(
            "import-expiry",
            || async {
                self.store
                    .import_expirations_due(self.clock.now_millis(), DUE_BATCH)
                    .await
                    .map_err(internal("listing expired key material"))
            },
            |m: &ImportedMaterialRecord| m.key_id.clone(),
            |m: ImportedMaterialRecord| async move {
                self.as_job(
                    "DeleteExpiredKeyMaterial",
                    self.expire_one(&m.key_id, &m.material_id),
                )
                .await
            },
        )
        .await
    }

    /// Deletes one material iff it is still imported and its ValidTo has come (a
    /// concurrent re-import with a later ValidTo wins: the write is version-checked).
    async fn expire_one(&self, key_id: &str, material_id: &str) -> Result<bool, KmsError> {
        let stored = self
            .write_imported(key_id, |record, materials, now| {
                let Some(m) = materials.iter().find(|m| m.material_id == material_id) else {
                    return Ok(None);
                };
                if m.sealed.is_none() || m.valid_to.is_none_or(|v| v > now) {
                    return Ok(None);
                }
                Ok(Some((vec![deleted(m)], record.current_material_id.clone())))
            })
            .await?;
        let Some(key) = stored else {
            return Ok(false);
        };
        tracing::info!(key_arn = %key.arn, material_id, "deleted expired imported key material");
        self.emit(ServiceEvent::DeleteExpiredKeyMaterial {
            account_id: key.account_id.to_string(),
            region: key.region.to_string(),
            key_arn: key.arn.to_string(),
            key_material_id: material_id.to_owned(),
            at: self.clock.now_millis(),
        })
        .await;
        Ok(true)
    }
}

/// A key's materials once `written` (new ones, or new versions of existing ones) are
/// stored, in the store's order (new ones last).
/// The transaction that writes imported materials of keys (one key, or the region-keys of
/// a multi-Region key) together with the keys: for each, iff its stored version is the
/// record's, its record, then its materials in the order given.
pub(crate) fn put_imported_materials(
    writes: Vec<(KeyRecord, Vec<ImportedMaterialRecord>)>,
) -> Transaction {
    let mut put = Transaction::new("put_imported_materials");
    for (key, materials) in writes {
        put.update_key(key);
        for m in materials {
            put.put_imported_material(m);
        }
    }
    put
}

pub(crate) fn merged(
    materials: &[ImportedMaterialRecord],
    written: &[ImportedMaterialRecord],
) -> Vec<ImportedMaterialRecord> {
    let mut after: Vec<ImportedMaterialRecord> = materials
        .iter()
        .map(|m| {
            written
                .iter()
                .find(|w| w.material_id == m.material_id)
                .unwrap_or(m)
                .clone()
        })
        .collect();
    for w in written {
        if !after.iter().any(|m| m.material_id == w.material_id) {
            after.push(w.clone());
        }
    }
    after
}

/// A replica's record of its primary's material `m`, pending import: "If you replicate a
/// multi-Region primary key with imported key material, the replica key is created with no
/// key material" (ReplicateKey). Its rotation history is the primary's.
pub(crate) fn replica_copy(
    m: &ImportedMaterialRecord,
    replica_key_id: &str,
) -> ImportedMaterialRecord {
    ImportedMaterialRecord {
        key_id: replica_key_id.to_owned(),
        ..deleted(m)
    }
}

/// `m` with its bytes and its expiration gone (DeleteImportedKeyMaterial, expiry).
pub(crate) fn deleted(m: &ImportedMaterialRecord) -> ImportedMaterialRecord {
    ImportedMaterialRecord {
        sealed: None,
        expiration_model: None,
        valid_to: None,
        ..m.clone()
    }
}

/// Checks imported material against a key of `kind`; returns its canonical bytes for the
/// material id (the material itself, or an asymmetric key's public key). Symmetric keys take 256 bits; HMAC keys the lengths AWS documents for
/// their spec; key pairs a DER PKCS#8 private key of their spec
/// (<https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-conceptual.html>).
pub(crate) fn check_material(
    kind: KeyKind,
    key_spec: &str,
    plain: &SecretBytes,
) -> Result<SecretBytes, KmsError> {
    let incorrect = |what: &str| KmsError::IncorrectKeyMaterial {
        message: format!("The key material is invalid for key spec {key_spec}: {what}."),
    };
    match kind {
        KeyKind::Symmetric => {
            if plain.len() != 32 {
                return Err(incorrect("it must be a 256-bit (32-byte) symmetric key"));
            }
            Ok(SecretBytes::from_slice(plain.expose()))
        }
        KeyKind::Hmac(spec) => {
            let range = spec.import_len_range();
            Material::from_plain(kind, plain).map_err(|_| {
                incorrect(&format!(
                    "it must be {} to {} bytes long",
                    range.start(),
                    range.end()
                ))
            })?;
            Ok(SecretBytes::from_slice(plain.expose()))
        }
        KeyKind::Asymmetric(_) => {
            let key = Material::from_plain(kind, plain).map_err(|_| {
                incorrect("it must be a DER-encoded PKCS #8 private key of that spec")
            })?;
            let public_key = key.public_key().ok_or(KmsError::Internal)?;
            Ok(SecretBytes::from_slice(public_key))
        }
    }
}

/// A cursor over an unsealed token; running short is an invalid token.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], KmsError> {
        if self.0.len() < n {
            return Err(KmsError::InvalidImportToken);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
}
