//! ImportKeyMaterial: <https://docs.aws.amazon.com/kms/latest/APIReference/API_ImportKeyMaterial.html>
//!
//! The token is checked against the key and the clock, the material unwrapped with the
//! token's wrapping key and algorithm, checked against the key spec, identified (see
//! `import.rs`), sealed under the root key and written with the key's new state in one
//! version-checked transaction. Every refusal happens before anything is written.
//!
//! - ExpirationModel defaults to KEY_MATERIAL_EXPIRES, which needs a ValidTo in the future
//!   and at most 365 days ahead; KEY_MATERIAL_DOES_NOT_EXPIRE forbids a ValidTo.
//! - ImportType defaults to NEW_KEY_MATERIAL on a key that never had material and to
//!   EXISTING_KEY_MATERIAL after. New material on a symmetric key that has material is
//!   PENDING_ROTATION until RotateKeyOnDemand makes it current; asymmetric and HMAC keys
//!   only ever take their first material again.
//! - Multi-Region keys
//!   (<https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-import.html>):
//!   each region-key is imported on its own. A replica takes only material its primary has
//!   (anything else is `IncorrectKeyMaterialException`) and never NEW_KEY_MATERIAL; its
//!   ImportType defaults to EXISTING_KEY_MATERIAL. New material on the primary is
//!   PENDING_MULTI_REGION_IMPORT_AND_ROTATION until every replica has imported it.
//! - Re-importing replaces the material's ExpirationModel and ValidTo; its description
//!   stays unless a new one is given ("KMS retains the value you specified when you last
//!   imported the same key material").

use trent_store::{ImportedMaterialRecord, KeyRecord};
use trent_wire::{
    ExpirationModelType, ImportKeyMaterialRequest, ImportKeyMaterialResponse, ImportType,
    KeyMaterialState, Operation,
};

use crate::authz::Access;
use crate::ids::Forms;
use crate::import::{check_material, is_external, material_state, not_external, MAX_VALID_TO_MS};
use crate::keys::{is_replica, public_key_id, require_manageable};
use crate::keyspec::KeyKind;
use crate::{Caller, KeyService, KmsError};

impl KeyService {
    pub async fn import_key_material(
        &self,
        caller: &Caller,
        req: ImportKeyMaterialRequest,
    ) -> Result<ImportKeyMaterialResponse, KmsError> {
        let now = self.clock.now_millis();
        let model = req
            .expiration_model
            .unwrap_or(ExpirationModelType::KeyMaterialExpires);
        let valid_to = match (model, req.valid_to) {
            (ExpirationModelType::KeyMaterialExpires, None) => {
                return Err(KmsError::Validation {
                    // AWS's wording (lower-case validTo, no full stop), as LocalStack
                    // records it.
                    message: "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES".into(),
                })
            }
            (ExpirationModelType::KeyMaterialDoesNotExpire, Some(_)) => {
                return Err(KmsError::Validation {
                    message: "ValidTo is not valid when the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.".into(),
                })
            }
            (ExpirationModelType::KeyMaterialDoesNotExpire, None) => None,
            (ExpirationModelType::KeyMaterialExpires, Some(t)) => {
                if t.millis() <= now {
                    return Err(KmsError::Validation {
                        message: "The ValidTo date must be in the future.".into(),
                    });
                }
                if t.millis() > now + MAX_VALID_TO_MS {
                    return Err(KmsError::Validation {
                        message: "The ValidTo date must be no more than 365 days from the request date.".into(),
                    });
                }
                Some(t.millis())
            }
        };
        if req.import_type == Some(ImportType::NewKeyMaterial) && req.key_material_id.is_some() {
            return Err(KmsError::Validation {
                message:
                    "You cannot specify a key material ID with ImportType set to NEW_KEY_MATERIAL."
                        .into(),
            });
        }
        // kms:ValidTo is the request's ValidTo in epoch seconds (compared with the
        // Numeric operators), absent when the material does not expire.
        let access = Access::of(Operation::ImportKeyMaterial)
            .with("kms:ExpirationModel", model.as_str())
            .with_opt("kms:ValidTo", valid_to.map(|ms| ms.div_euclid(1000)));
        let key = self
            .resolve(caller, &req.key_id, Forms::KeyOnly, access)
            .await?;
        let record = &key.record;
        if !is_external(record) {
            return Err(not_external(record));
        }
        require_manageable(record)?;
        let kind = key.kind();
        if kind != KeyKind::Symmetric
            && (req.key_material_id.is_some() || req.key_material_description.is_some())
        {
            return Err(KmsError::Validation {
                message: "KeyMaterialId and KeyMaterialDescription are only valid for symmetric encryption KMS keys.".into(),
            });
        }
        let params = self.open_import_token(&record.arn, &req.import_token)?;
        let plain = params
            .wrapping_key
            .unwrap(params.algorithm, &req.encrypted_key_material)
            .map_err(|_| KmsError::InvalidCiphertext)?;
        let canonical = check_material(kind, record.key_spec.as_str(), &plain)?;
        // The public key id: every region-key of a multi-Region key gives the same material
        // the same id.
        let material_id = self
            .material_id(public_key_id(record), canonical.expose())
            .await?;
        drop(canonical);
        if let Some(given) = &req.key_material_id {
            if *given != material_id {
                return Err(KmsError::IncorrectKeyMaterial {
                    message: format!(
                        "The key material being imported does not match key material ID {given}."
                    ),
                });
            }
        }
        let sealed = self
            .local_backend()
            .seal(&record.arn, &material_id, &plain)?;
        drop(plain);
        // A replica of a multi-Region key takes only material of its primary, and never as
        // new material: "You cannot directly import new key material into the replica
        // Region keys" (ImportKeyMaterial).
        let primary = if is_replica(record) {
            if req.import_type == Some(ImportType::NewKeyMaterial) {
                return Err(KmsError::Unsupported {
                    what: format!(
                        "Importing new key material into the multi-Region replica key {} (import it into the primary key, then import the same key material into each replica with ImportType EXISTING_KEY_MATERIAL)",
                        record.arn
                    ),
                });
            }
            let region_keys = self.region_materials(record).await?;
            let Some((primary, materials)) = region_keys.into_iter().next() else {
                return Err(KmsError::Internal);
            };
            if !materials.iter().any(|m| m.material_id == material_id) {
                return Err(KmsError::IncorrectKeyMaterial {
                    message: format!(
                        "The key material being imported is not key material of the multi-Region primary key {}. Import key material into the primary key first.",
                        primary.arn
                    ),
                });
            }
            Some((primary, materials))
        } else {
            None
        };
        let stored = self
            .write_imported(&record.key_id, |rec, materials, now| {
                require_manageable(rec)?;
                if let Some((primary, primary_materials)) = &primary {
                    return Ok(Some(replica_import(
                        rec,
                        materials,
                        primary,
                        primary_materials,
                        &material_id,
                        ImportedMaterialRecord {
                            key_id: rec.key_id.clone(),
                            material_id: material_id.clone(),
                            seq: 0,
                            created_at: now,
                            description: req.key_material_description.clone(),
                            expiration_model: Some(model),
                            valid_to,
                            sealed: Some(sealed.clone()),
                            rotated_at: None,
                            rotation_type: None,
                        },
                    )));
                }
                let existing = materials.iter().find(|m| m.material_id == material_id);
                let current = rec
                    .current_material_id
                    .as_deref()
                    .and_then(|c| materials.iter().find(|m| m.material_id == c));
                let import_type = req.import_type.unwrap_or(if materials.is_empty() {
                    ImportType::NewKeyMaterial
                } else {
                    ImportType::ExistingKeyMaterial
                });
                match import_type {
                    ImportType::NewKeyMaterial => {
                        if existing.is_some() {
                            return Err(KmsError::IncorrectKeyMaterial {
                                message: "KMS expected new key material but the key material being imported is already associated with the KMS key.".into(),
                            });
                        }
                        if !materials.is_empty() && kind != KeyKind::Symmetric {
                            return Err(KmsError::Unsupported {
                                what: "Importing new key material into an asymmetric or HMAC KMS key".into(),
                            });
                        }
                        if let Some(pending) = materials.iter().find(|m| {
                            material_state(m, current) == KeyMaterialState::PendingRotation
                        }) {
                            return Err(KmsError::AnotherMaterialPendingRotation {
                                material_id: material_id.clone(),
                                arn: rec.arn.to_string(),
                                pending_id: pending.material_id.clone(),
                            });
                        }
                    }
                    ImportType::ExistingKeyMaterial => {
                        if existing.is_none() {
                            return Err(KmsError::IncorrectKeyMaterial {
                                message: "The key material being imported is not the same key material that was previously imported into this KMS key.".into(),
                            });
                        }
                    }
                }
                let m = ImportedMaterialRecord {
                    key_id: rec.key_id.clone(),
                    material_id: material_id.clone(),
                    seq: existing.map_or(0, |e| e.seq),
                    created_at: existing.map_or(now, |e| e.created_at),
                    description: req
                        .key_material_description
                        .clone()
                        .or_else(|| existing.and_then(|e| e.description.clone())),
                    expiration_model: Some(model),
                    valid_to,
                    sealed: Some(sealed.clone()),
                    rotated_at: existing.and_then(|e| e.rotated_at),
                    rotation_type: existing.and_then(|e| e.rotation_type),
                };
                // The first material is current at once; new material after it waits
                // for RotateKeyOnDemand.
                let current = rec
                    .current_material_id
                    .clone()
                    .or_else(|| Some(material_id.clone()));
                Ok(Some((vec![m], current)))
            })
            .await?;
        let Some(stored) = stored else {
            return Err(KmsError::KeyNotFound {
                arn: record.arn.to_string(),
            });
        };
        Ok(ImportKeyMaterialResponse {
            key_id: Some(stored.arn.to_string()),
            key_material_id: Some(material_id),
        })
    }
}

/// The write of an import into a replica of a multi-Region key, of material its primary
/// has (`m`, as imported): the replica's own record of that material takes the import; a
/// material new to the replica is added, after every earlier material of the primary the
/// replica does not know yet (added pending import, so that the replica's materials keep
/// the primary's order and the replica waits for all of them). The replica's current
/// material is its primary's.
fn replica_import(
    replica: &KeyRecord,
    materials: &[ImportedMaterialRecord],
    primary: &KeyRecord,
    primary_materials: &[ImportedMaterialRecord],
    material_id: &str,
    m: ImportedMaterialRecord,
) -> (Vec<ImportedMaterialRecord>, Option<String>) {
    let current = replica
        .current_material_id
        .clone()
        .or_else(|| primary.current_material_id.clone());
    if let Some(existing) = materials.iter().find(|e| e.material_id == material_id) {
        // "KMS retains the value you specified when you last imported the same key
        // material" (KeyMaterialDescription).
        let m = ImportedMaterialRecord {
            seq: existing.seq,
            created_at: existing.created_at,
            description: m.description.or_else(|| existing.description.clone()),
            rotated_at: existing.rotated_at,
            rotation_type: existing.rotation_type,
            ..m
        };
        return (vec![m], current);
    }
    let mut written = Vec::new();
    for p in primary_materials {
        if p.material_id == material_id {
            written.push(ImportedMaterialRecord {
                created_at: p.created_at,
                description: m.description.clone().or_else(|| p.description.clone()),
                rotated_at: p.rotated_at,
                rotation_type: p.rotation_type,
                ..m
            });
            break;
        }
        if !materials.iter().any(|e| e.material_id == p.material_id) {
            written.push(crate::import::replica_copy(p, &replica.key_id));
        }
    }
    (written, current)
}
